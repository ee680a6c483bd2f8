#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_tag
short_description: Add a tag to a Microsoft Defender for Endpoint machine, or remove it
version_added: 1.0.0
description:
  - Adds a tag to a machine (O(state=present)) or removes it (O(state=absent)), only when the machine's tags are not already
    as wanted.
  - Responders mark machines (for example V(under-investigation) or V(INC-4711)) so that colleagues, device groups and
    queries see them.
  - Tags compare case-sensitively, as MDE stores them. A tag of the machine that differs from O(tag) only in letter case is
    left alone and reported in a warning.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  machine_id:
    description:
      - The MDE device ID of the machine (40 hexadecimal characters).
      - Exactly one of O(machine_id) and O(computer_dns_name) is required.
    type: str
  computer_dns_name:
    description:
      - The machine's name, resolved to its ID as the launching modules do it (case-insensitively, also as a short name).
      - No match or several matches fail, listing the candidates.
    type: str
  tag:
    description:
      - The tag to add or remove, compared case-sensitively.
    type: str
    required: true
  state:
    description:
      - V(present) adds the tag, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Reads the machine's tags and reports whether they would change; changes nothing.
  diff_mode:
    support: full
    details:
      - Shows the machine's tags before and after.
  idempotent:
    support: full
notes:
  - Calls C(GET /api/machines/{id}) (and C(GET /api/machines) to resolve O(computer_dns_name)), and C(POST /api/machines/{id}/tags)
    only when the tags change. The app needs C(Machine.ReadWrite.All).
  - The tags call spends from the rate budget of the machines APIs (100 calls a minute, 1500 an hour).
  - When the answer to the tags call is lost (a server error, a read timeout, a broken connection), the machine is read back.
    If its tags show the change, that is the result and the call is not sent again. If not, the call is sent again, at most
    O(max_retries) times; that is safe, since adding or removing a tag sets it whatever it was.
seealso:
  - module: defender.endpoint.mde_machine_info
  - name: Add or remove machine tags API
    description: Microsoft's reference for the tags call.
    link: https://learn.microsoft.com/defender-endpoint/api/add-or-remove-machine-tags
'''

EXAMPLES = r'''
- name: Mark the machine of the incident
  defender.endpoint.mde_machine_tag:
    computer_dns_name: web-prod-01.contoso.com
    tag: INC-4711
  delegate_to: localhost

- name: Remove the mark once the incident is closed
  defender.endpoint.mde_machine_tag:
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    tag: INC-4711
    state: absent
  delegate_to: localhost
'''

RETURN = r'''
machine:
  description:
    - The machine in snake_case (see M(defender.endpoint.mde_machine_info)), as the API returned it after the change.
    - In check mode, or when nothing changed, the machine as it is now.
  returned: success
  type: dict
  sample:
    id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    computer_dns_name: web-prod-01.contoso.com
    machine_tags: [INC-4711]
machine_id:
  description: The ID of the machine (resolved from O(computer_dns_name) when given).
  returned: success
  type: str
  sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
machine_tags:
  description: The machine's tags after the task (in check mode, the tags it would have).
  returned: success
  type: list
  elements: str
  sample: [INC-4711, under-investigation]
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_machine_tag(
        argument_spec=dict(
            machine_id=dict(type='str'),
            computer_dns_name=dict(type='str'),
            tag=dict(type='str', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        mutually_exclusive=[('machine_id', 'computer_dns_name')],
        required_one_of=[('machine_id', 'computer_dns_name')],
        supports_check_mode=True,
    )


if __name__ == '__main__':
    main()
