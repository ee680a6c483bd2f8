#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_action_cancel
short_description: Cancel Microsoft Defender for Endpoint machine actions that are not final yet
version_added: 1.0.0
description:
  - Cancels a machine action (isolation, scan, investigation package, live response, ...) that is still C(Pending) or C(InProgress),
    or every such action on a machine.
  - Looks the action up first and cancels only when it is not final, so the task can run again and again. It reports C(changed)
    only when an action really got cancelled.
  - An action that becomes final between the look-up and the cancel (the API then refuses the cancel) is reported as it is,
    not changed, and is not a failure.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  id:
    description:
      - The ID (a GUID) of the machine action to cancel.
      - Exactly one of O(id), O(machine_id) and O(computer_dns_name) is required.
    type: str
    aliases: [action_id]
  machine_id:
    description:
      - Cancel every action on this machine (its 40-character MDE device ID) that is C(Pending) or C(InProgress).
      - The actions are found with a server-side filter; see O(type) to narrow them.
    type: str
  computer_dns_name:
    description:
      - Like O(machine_id), naming the machine by its name instead of its ID.
      - Resolved as the launching modules resolve it, as the fully qualified name or the short name before the first dot, compared
        case-insensitively; a name that matches no machine, or several (re-imaged or re-onboarded devices keep old records),
        fails before anything is cancelled, listing the candidates.
    type: str
  type:
    description:
      - With O(machine_id) or O(computer_dns_name), cancel only actions of these types (the API's spellings).
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
  comment:
    description:
      - Why the action is cancelled; MDE records it as the action's C(cancellationComment). Must not be empty.
    type: str
    required: true
  wait:
    description:
      - Wait until each cancelled action is final.
      - An action that ends C(Succeeded) or C(Failed) because the cancel came too late is reported as not changed.
    type: bool
    default: false
  wait_timeout:
    description:
      - How long to wait with O(wait=true), in seconds. The task fails when an action is still not final by then.
      - The same default as the launching modules' O(wait_timeout).
    type: int
    default: 600
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Looks the actions up and reports what would be cancelled; sends no cancel request.
  diff_mode:
    support: full
    details:
      - Shows the status of each action before and after (predicted in check mode).
  idempotent:
    support: full
    details:
      - An action that is already final is never cancelled again.
notes:
  - Calls C(GET /api/machineactions/{id}) (or C(GET /api/machineactions) with a filter for O(machine_id)) and
    C(POST /api/machineactions/{id}/cancel). The app needs C(Machine.Read.All) and one of the action permissions
    (C(Machine.Isolate), C(Machine.Scan), C(Machine.CollectForensics), ...), granted with admin consent.
  - Final statuses are C(Succeeded), C(Failed), C(TimeOut) and C(Cancelled) (the older spelling C(Canceled) is accepted).
  - A failed task returns C(status), C(error_code), C(error_message) and C(correlation_id) when the API answered
    (quote the correlation ID to Microsoft support).
seealso:
  - module: defender.endpoint.mde_machine_action_info
  - name: Cancel machine action API
    description: Microsoft's reference for the call this module makes.
    link: https://learn.microsoft.com/defender-endpoint/api/cancel-machine-action
'''

EXAMPLES = r'''
- name: Cancel a scan started by mistake
  defender.endpoint.mde_machine_action_cancel:
    id: 3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708
    comment: Started by mistake, INC-4711
  delegate_to: localhost

- name: Incident closed - cancel everything still queued on the machine, and wait until it is final
  defender.endpoint.mde_machine_action_cancel:
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    type:
      - Isolate
      - RunAntiVirusScan
    comment: Incident INC-4711 closed
    wait: true
    wait_timeout: 600
  delegate_to: localhost
  register: cancelled

- name: Cancel the scans still queued on a machine named by its name
  defender.endpoint.mde_machine_action_cancel:
    computer_dns_name: db-prod-02
    type: [RunAntiVirusScan]
    comment: Scan window moved, INC-4711
  delegate_to: localhost

# Connection settings once for several tasks (module_defaults also works on a play);
# without them, every module reads the MDE_* environment variables.
- name: Tasks of the incident, signed in as the incident response app
  module_defaults:
    group/defender.endpoint.mde:
      tenant_id: "{{ mde_tenant_id }}"
      client_id: "{{ mde_client_id }}"
      client_secret: "{{ mde_client_secret }}"
  delegate_to: localhost
  block:
    - name: Cancel the pending isolation
      defender.endpoint.mde_machine_action_cancel:
        id: "{{ isolation_action_id }}"
        comment: Isolated the wrong machine
'''

RETURN = r'''
machine_action:
  description:
    - The action, with the API's fields in snake_case, after the cancel (as it is when nothing was cancelled).
    - In check mode, the action as it is now.
  returned: when O(id) is given
  type: dict
  sample:
    id: 3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708
    type: RunAntiVirusScan
    scope: Full
    status: Cancelled
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    computer_dns_name: desktop-39g9tgl.contoso.com
    requestor: ansible-mde-automation
    requestor_comment: Full scan requested by playbook run 4711
    creation_date_time_utc: '2025-05-14T10:02:11.8843120Z'
    last_update_date_time_utc: '2025-05-14T10:03:40.2215617Z'
    cancellation_requestor: ansible-mde-automation
    cancellation_comment: Machine action was canceled by automation
    cancellation_date_time_utc: '2025-05-14T10:03:40.2215617Z'
    error_h_result: 0
    external_id: null
    request_source: PublicApi
    related_file_info: null
    commands: []
    troubleshoot_info: null
    title: null
  contains:
    id:
      description: The action ID.
      type: str
      returned: always
    type:
      description: The action type, for example C(Isolate).
      type: str
      returned: always
    status:
      description: C(Pending), C(InProgress), C(Succeeded), C(Failed), C(TimeOut) or C(Cancelled).
      type: str
      returned: always
    machine_id:
      description: The device ID the action targets.
      type: str
      returned: always
    cancellation_comment:
      description: The comment of the cancel, once cancelled.
      type: str
      returned: always
machine_actions:
  description:
    - With O(machine_id), the actions that were cancelled (or would be, in check mode), in snake_case as RV(machine_action).
  returned: when O(machine_id) is given
  type: list
  elements: dict
  sample:
    - id: b5f8c2a4-3d1e-4e7a-9c62-0f4d8a1b7e93
      type: Isolate
      status: Cancelled
      machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
diff:
  description: With C(--diff), the status before and after, per action.
  returned: when diff mode is on
  type: dict
  sample:
    before:
      3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708: Pending
    after:
      3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708: Cancelled
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_cancel(
        argument_spec=dict(
            id=dict(type='str', aliases=['action_id']),
            machine_id=dict(type='str'),
            computer_dns_name=dict(type='str'),
            type=dict(type='list', elements='str', choices=ma.ACTION_TYPES),
            comment=dict(type='str', required=True),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=600),
        ),
        mutually_exclusive=[('id', 'machine_id', 'computer_dns_name')],
        required_one_of=[('id', 'machine_id', 'computer_dns_name')],
        supports_check_mode=True,
    )


if __name__ == '__main__':
    main()
