#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_action_info
short_description: Look up Microsoft Defender for Endpoint machine actions
version_added: 1.0.0
description:
  - Returns one machine action by ID, or the actions that match filters (machine, status, type, requestor, creation time).
  - Filtering happens on the server with an OData C($filter); every page of the answer is read.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  id:
    description:
      - The ID (a GUID) of one machine action. An unknown ID returns an empty list.
      - Cannot be combined with the filters.
    type: str
    aliases: [action_id]
  machine_id:
    description:
      - Only actions on this machine (its 40-character MDE device ID).
    type: str
  computer_dns_name:
    description:
      - Only actions on the machine of this name; cannot be combined with O(machine_id).
      - Resolved as the launching modules resolve it, as the fully qualified name or the short name before the first dot, compared
        case-insensitively; a name that matches no machine, or several (re-imaged or re-onboarded devices keep old records),
        fails before any action is looked up, listing the candidates.
    type: str
  status:
    description:
      - Only actions in one of these statuses.
    type: list
    elements: str
    choices: [Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled]
  type:
    description:
      - Only actions of one of these types.
    type: list
    elements: str
    choices:
      - CollectInvestigationPackage
      - Isolate
      - LiveResponse
      - Offboard
      - RestrictCodeExecution
      - RunAntiVirusScan
      - StopAndQuarantineFile
      - Unisolate
      - UnrestrictCodeExecution
  requestor:
    description:
      - Only actions requested by this identity (a user's UPN, or an app's name).
    type: str
  created_after:
    description:
      - Only actions created at or after this time, an ISO 8601 date or date-time such as V(2025-05-01) or V(2025-05-01T08:00:00+02:00).
    type: str
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.info_module
notes:
  - Calls C(GET /api/machineactions/{id}) or C(GET /api/machineactions?$filter=...). The app needs C(Machine.Read.All) or
    C(Machine.ReadWrite.All).
seealso:
  - module: defender.endpoint.mde_machine_action_cancel
  - name: List machine actions API
    description: Microsoft's reference for the list call and its filters.
    link: https://learn.microsoft.com/defender-endpoint/api/get-machineactions-collection
'''

EXAMPLES = r'''
- name: Look one action up
  defender.endpoint.mde_machine_action_info:
    id: 3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708
  delegate_to: localhost
  register: looked_up

- name: Actions still running on a machine
  defender.endpoint.mde_machine_action_info:
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    status:
      - Pending
      - InProgress
  delegate_to: localhost
  register: running

- name: Actions on a machine named by its name
  defender.endpoint.mde_machine_action_info:
    computer_dns_name: db-prod-02
  delegate_to: localhost
  register: on_db

- name: Isolations requested by the SOC automation since May
  defender.endpoint.mde_machine_action_info:
    type: [Isolate, Unisolate]
    requestor: soc-automation
    created_after: '2025-05-01'
  delegate_to: localhost
  register: isolations

- name: Show the IDs
  ansible.builtin.debug:
    msg: "{{ running.machine_actions | map(attribute='id') | list }}"
'''

RETURN = r'''
machine_actions:
  description:
    - The matching actions with the API's fields in snake_case, newest first as the API returns them.
    - An empty list when nothing matches, also for an unknown O(id).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 69dc3630-1ccc-4342-acf3-35286eec741d
      type: CollectInvestigationPackage
      title: null
      requestor: Analyst@contoso.com
      requestor_comment: Collect forensics due to alert 1234
      status: InProgress
      machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
      computer_dns_name: desktop-39g9tgl.contoso.com
      creation_date_time_utc: '2025-05-14T12:43:57.2011911Z'
      last_update_date_time_utc: '2025-05-14T12:44:25.4049122Z'
      cancellation_requestor: null
      cancellation_comment: null
      cancellation_date_time_utc: null
      error_h_result: 0
      scope: null
      external_id: null
      request_source: PublicApi
      related_file_info: null
      commands: []
      troubleshoot_info: null
  contains:
    id:
      description: The action ID.
      type: str
      returned: always
    type:
      description: The action type.
      type: str
      returned: always
    status:
      description: The action status.
      type: str
      returned: always
    machine_id:
      description: The device ID the action targets.
      type: str
      returned: always
    requestor:
      description: Who requested the action.
      type: str
      returned: always
    creation_date_time_utc:
      description: When the action was created (UTC).
      type: str
      returned: always
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils import _runner

FILTERS = ('machine_id', 'computer_dns_name', 'status', 'type', 'requestor', 'created_after')


def main():
    _runner.run_action_info(
        argument_spec=dict(
            id=dict(type='str', aliases=['action_id']),
            machine_id=dict(type='str'),
            computer_dns_name=dict(type='str'),
            status=dict(type='list', elements='str', choices=ma.STATUSES),
            type=dict(type='list', elements='str', choices=ma.ACTION_TYPES),
            requestor=dict(type='str'),
            created_after=dict(type='str'),
        ),
        mutually_exclusive=[('id', f) for f in FILTERS] + [('machine_id', 'computer_dns_name')],
        supports_check_mode=True,
    )


if __name__ == '__main__':
    main()
