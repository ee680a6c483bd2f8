# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
'''

    ACTION_GROUP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/defender.endpoint.mde) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - defender.endpoint.mde
'''

    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
'''

    # The families of modules: what their attributes share (a module states only the details that differ).

    STATE_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Looks at the action history and reports whether an action would be launched; launches nothing.
  diff_mode:
    support: full
    details:
      - Shows the state (and the ID of the action behind it) before and after.
  idempotent:
    support: partial
    details:
      - The state is derived from the action history, not read from the machine.
'''

    ONE_SHOT = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Reports whether the action would be launched; launches nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - An action still running with the same parameters is never launched twice; once it has finished, running the task again
        launches a new one.
'''

    DOWNLOADS = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Reports whether the action would be launched and its results written; launches and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - With a destination, results already there mean done. Without one, an action still running is never launched twice, but
        once it has finished, running the task again launches a new one.
      - With the ID of an existing action nothing is launched; the task only downloads, and results already there mean done.
'''
