#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_app_restriction
short_description: Restrict code execution on a machine with Microsoft Defender for Endpoint, or lift the restriction
version_added: 1.0.0
description:
  - Restricts application execution on a machine to Microsoft-signed code (O(state=restricted)) or removes the restriction
    (O(state=unrestricted)), only when it is not already in that state.
  - The current state is derived from the machine's action history - the newest C(RestrictCodeExecution) or
    C(UnrestrictCodeExecution) action that is C(Pending), C(InProgress) or C(Succeeded) - so repeated runs launch nothing.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  state:
    description:
      - V(restricted) restricts code execution, V(unrestricted) removes the restriction.
    type: str
    choices: [restricted, unrestricted]
    default: restricted
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.launch
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.state_module
notes:
  - Calls C(GET /api/machineactions) (history) and C(POST /api/machines/{id}/restrictCodeExecution) or
    C(/unrestrictCodeExecution). The app needs C(Machine.RestrictExecution) and C(Machine.Read.All).
  - Windows 10 1709 and later and Windows 11, with Microsoft Defender Antivirus; other platforms answer C(OsPlatformNotSupported).
seealso:
  - module: defender.endpoint.mde_machine_isolation
  - name: Restrict app execution API
    description: Microsoft's reference for the call.
    link: https://learn.microsoft.com/defender-endpoint/api/restrict-code-execution
'''

EXAMPLES = r'''
- name: Allow only Microsoft-signed code while the incident is investigated
  defender.endpoint.mde_machine_app_restriction:
    computer_dns_name: web-prod-01.contoso.com
    comment: INC-4711 suspicious binaries
  delegate_to: localhost

- name: Lift the restriction
  defender.endpoint.mde_machine_app_restriction:
    machine_id: 7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
    state: unrestricted
    comment: INC-4711 closed
    wait: true
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description:
    - The action that puts (or put) the machine in the requested state, in snake_case.
    - V(null) when the machine was never restricted and O(state=unrestricted), or in check mode when an action would be launched.
  returned: always
  type: dict
  sample:
    id: 69dc3630-1ccc-4342-acf3-35286eec741d
    type: RestrictCodeExecution
    status: Pending
    machine_id: 7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
machine_id:
  description: The ID of the machine acted on.
  returned: always
  type: str
  sample: 7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
state:
  description: The state the machine is in, or is being brought to by RV(machine_action).
  returned: always
  type: str
  sample: restricted
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_state_module(dict(
        state=dict(type='str', choices=['restricted', 'unrestricted'], default='restricted'),
    ), lambda p: _launch.app_restriction(p['state']))


if __name__ == '__main__':
    main()
