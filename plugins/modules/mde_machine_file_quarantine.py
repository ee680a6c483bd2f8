#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_file_quarantine
short_description: Stop a file's processes and quarantine it on a machine with Microsoft Defender for Endpoint
version_added: 1.0.0
description:
  - Stops the processes of a file, identified by its SHA-1, and quarantines it on a machine, unless the same file's stop and
    quarantine is already C(Pending) or C(InProgress) there.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  sha1:
    description:
      - The SHA-1 of the file, 40 hexadecimal characters (the API accepts only SHA-1 here).
    type: str
    required: true
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.launch
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.one_shot
attributes:
  idempotent:
    details:
      - The same file is never queued twice while its action runs; once it has finished, running the task again launches a new one,
        in case the file came back.
notes:
  - Calls C(GET /api/machineactions) and C(POST /api/machines/{id}/StopAndQuarantineFile). The app needs
    C(Machine.StopAndQuarantine) and C(Machine.Read.All).
  - Several different files may be quarantined on one machine at the same time.
  - Files of trusted third-party publishers and Microsoft-signed files are not stopped by MDE.
seealso:
  - name: Stop and quarantine file API
    description: Microsoft's reference for the call.
    link: https://learn.microsoft.com/defender-endpoint/api/stop-and-quarantine-file
'''

EXAMPLES = r'''
- name: Quarantine the dropper everywhere it was seen
  defender.endpoint.mde_machine_file_quarantine:
    machine_id: "{{ item }}"
    sha1: 87662bc3d60e4200ceaf7aae249d1c343f4b83c9
    comment: INC-4711 dropper
  loop: "{{ affected_machine_ids }}"
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description: The stop and quarantine action, in snake_case (C(related_file_info) names the file); V(null) in check mode when it
    would be launched.
  returned: always
  type: dict
  sample:
    id: 44cffc15-0e3d-4cbf-96aa-bf76f9b27f5e
    type: StopAndQuarantineFile
    status: Pending
    related_file_info:
      file_identifier: 87662bc3d60e4200ceaf7aae249d1c343f4b83c9
      file_identifier_type: Sha1
machine_id:
  description: The ID of the machine acted on.
  returned: always
  type: str
  sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_launch_module(dict(sha1=dict(type='str', required=True)), lambda p: _launch.file_quarantine(p['sha1']))


if __name__ == '__main__':
    main()
