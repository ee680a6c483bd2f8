#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_info
short_description: Look up machines in Microsoft Defender for Endpoint
version_added: 1.0.0
description:
  - Returns one machine by ID, the machines with a name, the machines seen with an internal IP address around a time, or the
    machines that match filters (health, OS platform, tag, risk, exposure). Filtering happens on the server with an OData
    C($filter); every page is read.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  id:
    description:
      - The MDE device ID (40 hexadecimal characters). An unknown ID returns an empty list.
    type: str
    aliases: [machine_id]
  computer_dns_name:
    description:
      - The machine's name, fully qualified or short, compared case-insensitively. Several machines may carry one name
        (re-imaged or re-onboarded devices keep old records); all are returned, newest C(last_seen) first.
    type: str
  ip_address:
    description:
      - An internal IPv4 or IPv6 address (such as the local IP of an alert); the module returns the machines MDE saw with that address during
        the 15 minutes before and after O(seen_at), newest C(last_seen) first. Several machines may have held one address around
        that time (DHCP), or none.
      - Checked before any request. Cannot be combined with O(id), O(computer_dns_name) or the filters (O(health_status),
        O(os_platform), O(tag), O(risk_score), O(exposure_level)), which the API's IP look-up does not take; narrow the result
        instead, for example with C(selectattr('health_status', 'equalto', 'Active')).
    type: str
  seen_at:
    description:
      - With O(ip_address), the time the address was seen, as an ISO 8601 date or date-time (for example V(2026-12-01T10:00:00Z)
        or V(2026-12-01T11:00:00+01:00)); the look-up covers 15 minutes before and after it. Default is now (the controller's
        clock).
      - It must lie within the last 30 days (the API looks no further back); an older or a future time fails before any request.
    type: str
  health_status:
    description: Only machines with one of these sensor health states.
    type: list
    elements: str
    choices: [Active, Inactive, ImpairedCommunication, NoSensorData, NoSensorDataImpairedCommunication, Unknown]
  os_platform:
    description: Only machines of one of these OS platforms, as MDE spells them (for example V(Windows11), V(WindowsServer2019), V(Linux)).
    type: list
    elements: str
  tag:
    description: Only machines carrying this tag.
    type: str
  risk_score:
    description: Only machines with one of these risk scores.
    type: list
    elements: str
    choices: [None, Informational, Low, Medium, High]
  exposure_level:
    description: Only machines with one of these exposure levels.
    type: list
    elements: str
    choices: [None, Low, Medium, High]
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.info_module
notes:
  - Calls C(GET /api/machines/{id}), C(GET /api/machines?$filter=...) or, with O(ip_address),
    C(GET /api/machines/findbyip(ip='...',timestamp=...)). The app needs C(Machine.Read.All) or C(Machine.ReadWrite.All).
  - The IP look-up is limited by the API to 100 calls a minute and 1500 an hour, like the other machine calls; the collection
    spends from that budget.
  - The API answers 404 when a tenant has no recent machines at all; that reads as an empty list.
seealso:
  - module: defender.endpoint.mde_machine_isolation
  - name: List machines API
    description: Microsoft's reference for the list call and its filters.
    link: https://learn.microsoft.com/defender-endpoint/api/get-machines
  - name: Find devices by internal IP API
    description: Microsoft's reference for the IP look-up behind O(ip_address).
    link: https://learn.microsoft.com/defender-endpoint/api/find-machines-by-ip
'''

EXAMPLES = r'''
- name: Find the machine of an alert by name
  defender.endpoint.mde_machine_info:
    computer_dns_name: lt-0412
  delegate_to: localhost
  register: found

- name: High-risk Windows 11 machines that still report
  defender.endpoint.mde_machine_info:
    health_status: [Active]
    os_platform: [Windows11]
    risk_score: [High]
  delegate_to: localhost
  register: risky

- name: Production machines
  defender.endpoint.mde_machine_info:
    tag: prod
  delegate_to: localhost
  register: prod

- name: The machines that hold an internal IP address now (15 minutes either side)
  defender.endpoint.mde_machine_info:
    ip_address: 10.20.30.41
  delegate_to: localhost
  register: by_ip

- name: The machine that had an alert's local IP address at the alert's time
  defender.endpoint.mde_machine_info:
    ip_address: 192.168.12.203
    seen_at: "{{ alert_time }}"  # ISO 8601, within the last 30 days, such as 2026-12-01T10:00:00Z
  delegate_to: localhost
  register: at_alert
'''

RETURN = r'''
machines:
  description: The matching machines, with the API's fields in snake_case.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
      computer_dns_name: lt-0412.contoso.com
      os_platform: Windows11
      health_status: Active
      onboarding_status: Onboarded
      last_seen: '2025-05-14T07:48:12.0391187Z'
      last_ip_address: 192.168.12.203
      risk_score: Medium
      exposure_level: Low
      machine_tags: [finance]
      rbac_group_name: Laptops
  contains:
    id:
      description: The MDE device ID, used by every action module as C(machine_id).
      type: str
      returned: always
    computer_dns_name:
      description: The machine's name.
      type: str
      returned: always
    health_status:
      description: Sensor health.
      type: str
      returned: always
    last_seen:
      description: Time of the last full device report (about daily), not the portal's last seen.
      type: str
      returned: always
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils import _runner

FILTERS = ('computer_dns_name', 'health_status', 'os_platform', 'tag', 'risk_score', 'exposure_level')


def main():
    _runner.run_machine_info(
        argument_spec=dict(
            id=dict(type='str', aliases=['machine_id']),
            computer_dns_name=dict(type='str'),
            health_status=dict(type='list', elements='str', choices=_machine.HEALTH_STATUSES),
            os_platform=dict(type='list', elements='str'),
            tag=dict(type='str'),
            risk_score=dict(type='list', elements='str', choices=_machine.RISK_SCORES),
            exposure_level=dict(type='list', elements='str', choices=_machine.EXPOSURE_LEVELS),
            ip_address=dict(type='str'),
            seen_at=dict(type='str'),
        ),
        mutually_exclusive=[('id', f) for f in FILTERS] + [('computer_dns_name', f) for f in FILTERS[1:]]
        + [('ip_address', f) for f in ('id',) + FILTERS],
        required_by={'seen_at': 'ip_address'},
        supports_check_mode=True,
    )


if __name__ == '__main__':
    main()
