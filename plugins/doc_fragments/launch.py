# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  machine_id:
    description:
      - The MDE device ID (40 hexadecimal characters, as in the device page URL) of the machine to act on.
      - Exactly one of O(machine_id) and O(computer_dns_name) is required.
    type: str
  computer_dns_name:
    description:
      - The machine's name, as MDE knows it (C(computerDnsName)), fully qualified or short; compared case-insensitively.
      - It must match exactly one machine. No match, or several (re-imaged or re-onboarded devices keep old records), fails
        the task before anything is launched, listing the candidates with their ID, last seen time and health.
    type: str
  comment:
    description:
      - Why the action is taken; MDE records it with the action (C(requestorComment)). Must not be empty.
      - It also identifies the action if the answer to the launch is lost (timeout or broken connection).
    type: str
    required: true
  wait:
    description:
      - Wait until the action is final. A final status other than C(Succeeded) then fails the task, with the action in the result.
    type: bool
    default: false
  wait_timeout:
    description:
      - How long to wait, in seconds, when waiting. The task fails when the action is still not final by then; the action keeps
        running on the service.
    type: int
    default: 600
notes:
  - Before launching, the module looks on the server for a C(Pending) or C(InProgress) action of the same type on the machine.
    One with the same parameters is returned with C(changed=false); one with other parameters fails the task with a clear
    message, since MDE runs one action of a kind at a time.
  - The launching request is never sent twice. If its answer is lost (timeout, broken connection, HTTP 5xx), the module
    looks for an action of that type on the machine with the same parameters and O(comment), created no earlier than five
    minutes before the request, and returns it; if there is none, the task fails saying that nothing was launched.
    An action that the look-up before the launch already found (that look-up also lists the actions of that type created
    in the last five minutes, final ones included) is never taken for the new one, so an earlier action with the same
    O(comment) is not reported as launched.
  - An HTTP 400 such as C(ActiveRequestAlreadyExists) ("Action is already in progress"), or an HTTP 201 that returns an action
    that already existed, is reported as not changed, with that action.
'''
