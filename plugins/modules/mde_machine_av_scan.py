#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_av_scan
short_description: Run a Microsoft Defender Antivirus scan on a machine through Microsoft Defender for Endpoint
version_added: 1.0.0
description:
  - Starts a quick or full antivirus scan on a machine, unless a scan of that type is already C(Pending) or C(InProgress) there,
    in which case that scan is returned, not changed.
  - With O(max_age), a scan of that type that C(Succeeded) within that age also counts as done, so a play run again (or run
    for many machines every few hours) does not scan a machine that was just scanned.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  scan_type:
    description:
      - V(quick) or V(full), sent as C(ScanType) (C(Quick) or C(Full)).
    type: str
    choices: [quick, full]
    default: quick
  max_age:
    description:
      - A scan of the same O(scan_type) on the machine that C(Succeeded) at most this long ago (by its completion time,
        C(lastUpdateDateTimeUtc)) counts as done; the task returns that scan, is not changed and starts nothing, and
        RV(reused) says V(succeeded).
      - A duration such as V(90s), V(30m), V(4h), V(2d) or V(1h30m) (whole numbers followed by C(d), C(h), C(m), C(s)); checked
        before any request.
      - A scan that failed, timed out or was cancelled never counts. The age is measured with the controller's clock against
        the API's timestamps (UTC).
      - Unset (the default), only a scan still C(Pending) or C(InProgress) is reused; once it has finished, the task starts a new
        scan.
      - The look-up for a running scan is widened to the C(Succeeded) ones; no extra API call is made.
    type: str
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.launch
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.one_shot
attributes:
  check_mode:
    details:
      - Reports whether a scan would be started; starts nothing. A scan that would be reused (running, or within O(max_age))
        is returned as in a real run.
  idempotent:
    details:
      - A scan still running is never started twice. Once a scan has finished, running the task again starts a new scan, as
        asked, unless it Succeeded within O(max_age).
notes:
  - Calls C(GET /api/machineactions) and C(POST /api/machines/{id}/runAntiVirusScan). The app needs C(Machine.Scan) and
    C(Machine.Read.All).
  - A scan of the other type still running on the machine fails the task (MDE runs one scan at a time); wait for it or cancel it
    with M(defender.endpoint.mde_machine_action_cancel).
seealso:
  - module: defender.endpoint.mde_machine_action_cancel
  - name: Run antivirus scan API
    description: Microsoft's reference for the call.
    link: https://learn.microsoft.com/defender-endpoint/api/run-av-scan
'''

EXAMPLES = r'''
- name: Quick scan, unless one succeeded in the last 4 hours
  defender.endpoint.mde_machine_av_scan:
    computer_dns_name: db-prod-02
    comment: Daily hygiene scan
    max_age: 4h
  delegate_to: localhost
  register: hygiene

- name: Full scan, and wait for the verdict
  defender.endpoint.mde_machine_av_scan:
    # lt-0412.contoso.com: two MDE records carry that name (a re-imaged laptop), so the ID picks the one
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    scan_type: full
    comment: INC-4711 post-containment scan
    wait: true
    wait_timeout: 3600
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description: The scan action, in snake_case; V(null) in check mode when a scan would be started.
  returned: always
  type: dict
  sample:
    id: 2e9da30d-27f6-4208-81f2-9cd3d67893ba
    type: RunAntiVirusScan
    scope: Full
    status: Pending
machine_id:
  description: The ID of the machine acted on.
  returned: always
  type: str
  sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
reused:
  description:
    - What the task returned instead of starting a scan. V(succeeded) for a scan that Succeeded within O(max_age), V(running) for a
      scan still C(Pending) or C(InProgress); V(null) when it started a scan (or, in check mode, would).
  returned: when O(max_age) is set
  type: str
  sample: succeeded
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_launch_module(dict(
        scan_type=dict(type='str', choices=['quick', 'full'], default='quick'),
        max_age=dict(type='str'),
    ), lambda p: _launch.av_scan(p['scan_type'], p['max_age']))


if __name__ == '__main__':
    main()
