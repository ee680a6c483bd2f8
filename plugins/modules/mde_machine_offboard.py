#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_offboard
short_description: Offboard a machine from Microsoft Defender for Endpoint
version_added: 1.0.0
description:
  - Offboards a machine (stops its MDE sensor), unless an offboarding of it is already C(Pending), C(InProgress) or C(Succeeded).
author:
  - defender.endpoint maintainers (@defender-endpoint)
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.launch
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.state_module
attributes:
  check_mode:
    details:
      - Looks at the action history and reports whether the offboarding would be launched; launches nothing.
  diff_mode:
    details:
      - Shows the state before and after (C(onboarded) or C(offboarded)).
  idempotent:
    support: full
    details:
      - An offboarding that is pending, running or done is never launched again.
notes:
  - Calls C(GET /api/machineactions) and C(POST /api/machines/{id}/offboard). The app needs C(Machine.Offboard) and C(Machine.Read.All).
  - Offboarding only stops the sensor service; it does not remove the onboarding configuration from the device. It is not
    supported on macOS and Linux (the API answers C(OsPlatformNotSupported)).
seealso:
  - name: Offboard machine API
    description: Microsoft's reference for the call.
    link: https://learn.microsoft.com/defender-endpoint/api/offboard-machine-api
'''

EXAMPLES = r'''
- name: Offboard a decommissioned server
  defender.endpoint.mde_machine_offboard:
    machine_id: 7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
    comment: CHG-1234 server decommissioned
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description: The offboarding action, in snake_case; V(null) in check mode when it would be launched.
  returned: always
  type: dict
  sample:
    id: 44cffc15-0e3d-4cbf-96aa-bf76f9b27f5e
    type: Offboard
    status: Pending
machine_id:
  description: The ID of the machine acted on.
  returned: always
  type: str
  sample: 7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
state:
  description: C(offboarded) (done or under way).
  returned: always
  type: str
  sample: offboarded
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_state_module(None, lambda p: _launch.offboard())


if __name__ == '__main__':
    main()
