#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_isolation
short_description: Isolate a machine from the network with Microsoft Defender for Endpoint, or release it
version_added: 1.0.0
description:
  - Isolates a machine (O(state=isolated)) or releases it from isolation (O(state=released)), only when it is not already in
    that state.
  - MDE has no isolation flag to read. The current state is derived from the machine's action history - the newest
    C(Isolate) or C(Unisolate) action that is C(Pending), C(InProgress) or C(Succeeded) - so a task run twice, or run while
    the first request is still pending, launches nothing the second time. This is what keeps a released machine from being
    isolated again by a duplicate request that fires late.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  state:
    description:
      - V(isolated) isolates the machine, V(released) releases it.
    type: str
    choices: [isolated, released]
    default: isolated
  isolation_type:
    description:
      - With O(state=isolated), the kind of isolation, sent as C(IsolationType).
      - V(full) cuts all network traffic but the MDE service's; V(selective) blocks only a limited set of applications (Windows
        10 1709 and later); V(unmanaged_device) contains a device that MDE does not manage.
      - The module sends it explicitly (the API's own default is not documented).
    type: str
    choices: [full, selective, unmanaged_device]
    default: full
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.launch
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.state_module
attributes:
  idempotent:
    details:
      - The state is derived from the action history, not read from the machine. An isolation or release made outside the API's
        history (for example an action that later fails on the device) is only seen once MDE records it.
notes:
  - Calls C(GET /api/machineactions) (history), C(POST /api/machines/{id}/isolate) or C(/unisolate), and C(GET /api/machines)
    to resolve O(computer_dns_name). The app needs C(Machine.Isolate) and C(Machine.Read.All).
  - A machine already isolated with another O(isolation_type) is not isolated again; the task fails and says to release it first.
  - A release requested while an isolation is still pending is queued by MDE behind it; use
    M(defender.endpoint.mde_machine_action_cancel) to withdraw a pending isolation instead.
seealso:
  - module: defender.endpoint.mde_machine_action_cancel
  - module: defender.endpoint.mde_machine_info
  - name: Isolate machine API
    description: Microsoft's reference for the isolate call.
    link: https://learn.microsoft.com/defender-endpoint/api/isolate-machine
'''

EXAMPLES = r'''
- name: Contain the machine of the incident
  defender.endpoint.mde_machine_isolation:
    computer_dns_name: web-prod-01.contoso.com
    comment: INC-4711 ransomware alert
    wait: true
  delegate_to: localhost

- name: Release it once it is clean
  defender.endpoint.mde_machine_isolation:
    machine_id: 7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
    state: released
    comment: INC-4711 cleaned and validated
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description:
    - The action that puts (or put) the machine in the requested state, in snake_case (see M(defender.endpoint.mde_machine_action_info)).
    - V(null) when the machine was never isolated and O(state=released), or in check mode when an action would be launched.
  returned: always
  type: dict
  sample:
    id: b5f8c2a4-3d1e-4e7a-9c62-0f4d8a1b7e93
    type: Isolate
    scope: Full
    status: Pending
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    requestor_comment: INC-4711 ransomware alert
machine_id:
  description: The ID of the machine acted on (resolved from O(computer_dns_name) when given).
  returned: always
  type: str
  sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
state:
  description: The state the machine is in, or is being brought to by RV(machine_action).
  returned: always
  type: str
  sample: isolated
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_state_module(dict(
        state=dict(type='str', choices=['isolated', 'released'], default='isolated'),
        isolation_type=dict(type='str', choices=sorted(_launch.ISOLATION_SCOPES), default='full'),
    ), lambda p: _launch.isolation(p['state'], p['isolation_type']))


if __name__ == '__main__':
    main()
