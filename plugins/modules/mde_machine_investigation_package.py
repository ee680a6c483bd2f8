#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_investigation_package
short_description: Collect a Microsoft Defender for Endpoint investigation package from a machine, and download it
version_added: 1.0.0
description:
  - Starts the collection of an investigation package (forensic data such as autoruns, processes, network connections and
    event logs) on a machine, unless a collection is already C(Pending) or C(InProgress) there.
  - With O(dest), waits until the collection succeeds, gets the package's short-lived download link and writes the zip to O(dest).
    A later run that finds O(dest) present does nothing, without any request, unless O(force=true).
  - With O(action_id), downloads the package of a collection that was already started (by an earlier run whose download
    failed, from the portal, or by another tool) and starts nothing.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  action_id:
    description:
      - The ID of an existing C(CollectInvestigationPackage) machine action whose package to download into O(dest), instead of
        starting a collection. Waits while it is C(Pending) or C(InProgress) (see O(wait_timeout)); one that ended other than
        C(Succeeded) fails the task.
      - Takes the place of O(machine_id) / O(computer_dns_name) and O(comment); requires O(dest).
      - A task whose download failed after the collection succeeded names the action in its message and in RV(machine_action).
    type: str
    version_added: 1.0.0
  comment:
    description:
      - Why the package is collected; MDE records it with the action (C(requestorComment)). Must not be empty.
      - It also identifies the action if the answer to the launch is lost (timeout or broken connection).
      - Required unless O(action_id) is given.
    type: str
    required: false  # overrides the launch fragment, where it is required
  dest:
    description:
      - Path of the zip file to write. Its folder must exist and be writable. Implies waiting (see O(wait_timeout)).
      - The file is written atomically (it appears only when complete) with mode 0600, since it holds forensic data.
    type: path
  force:
    description:
      - Collect and download again (with O(action_id), download again) even when O(dest) exists.
    type: bool
    default: false
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.launch
  - defender.endpoint.attributes
  - defender.endpoint.attributes.action_group
  - defender.endpoint.attributes.downloads
attributes:
  check_mode:
    details:
      - Reports whether a collection would be started and O(dest) written; starts and writes nothing.
  idempotent:
    details:
      - With O(dest), a present file means done. Without it, a collection still running is never started twice, but once it has
        finished, running the task again collects a new package.
      - With O(action_id) nothing is started; the task only downloads, and a present O(dest) means done.
notes:
  - Calls C(GET /api/machineactions), C(POST /api/machines/{id}/collectInvestigationPackage),
    C(GET /api/machineactions/{id}/getPackageUri) and then the link itself. The app needs C(Machine.CollectForensics) and
    C(Machine.Read.All).
  - The package URI call is limited to 2 a minute and 120 an hour; the shared rate budget spaces the calls of parallel tasks.
  - The download goes to a storage host; the bearer token is never sent there. TLS is verified with O(ca_path) / O(validate_certs).
seealso:
  - module: defender.endpoint.mde_machine_live_response
  - name: Collect investigation package API
    description: Microsoft's reference for the call.
    link: https://learn.microsoft.com/defender-endpoint/api/collect-investigation-package
'''

EXAMPLES = r'''
- name: The evidence folder of the incident, for the responders only (dest's folder must exist)
  ansible.builtin.file:
    path: ~/evidence/INC-4711
    state: directory
    mode: '0700'
  delegate_to: localhost

- name: Collect the evidence of the incident
  defender.endpoint.mde_machine_investigation_package:
    computer_dns_name: web-prod-01.contoso.com
    comment: INC-4711 evidence
    dest: ~/evidence/INC-4711/web-prod-01.zip
    wait_timeout: 3600
  delegate_to: localhost
  register: package

- name: Record the checksum in the case file
  ansible.builtin.debug:
    msg: "{{ package.dest }} sha256={{ package.sha256 }}"

- name: Download the package of a collection started earlier (no new collection)
  defender.endpoint.mde_machine_investigation_package:
    action_id: 69dc3630-1ccc-4342-acf3-35286eec741d
    dest: ~/evidence/INC-4711/web-prod-01-earlier.zip
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description: The collection action, in snake_case. V(null) when O(dest) was already present, or in check mode when a collection would start.
  returned: always
  type: dict
  sample:
    id: 69dc3630-1ccc-4342-acf3-35286eec741d
    type: CollectInvestigationPackage
    status: Succeeded
machine_id:
  description: The ID of the machine (not returned when O(dest) was already present).
  returned: when the machine or the action was looked up
  type: str
  sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
dest:
  description: Where the package is.
  returned: with O(dest)
  type: str
  sample: /srv/evidence/INC-4711/lt-0412.zip
sha256:
  description: SHA-256 of the package file.
  returned: when O(dest) exists after the task
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: Size of the package file in bytes.
  returned: when O(dest) exists after the task
  type: int
  sample: 1048576
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_investigation_package()


if __name__ == '__main__':
    main()
