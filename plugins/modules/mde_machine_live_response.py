#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: mde_machine_live_response
short_description: Run Microsoft Defender for Endpoint live response commands on a machine and fetch their results
version_added: 1.0.0
description:
  - Runs live response commands (put a library file on the machine, run a library script, get a file) on a machine, unless the
    same commands are already C(Pending) or C(InProgress) there.
  - With O(dest), waits until the commands succeed and downloads each command's result (a script's transcript, a collected file)
    into the O(dest) folder. A later run that finds every result present does nothing, without any request, unless O(force=true).
  - With O(action_id), downloads the results of a live response action that was already started (by an earlier run whose
    download failed, or by another tool) and runs nothing on the machine.
author:
  - defender.endpoint maintainers (@defender-endpoint)
options:
  action_id:
    description:
      - The ID of an existing C(LiveResponse) machine action whose results to download into O(dest), instead of running
        commands. Waits while it is C(Pending) or C(InProgress) (see O(wait_timeout)); one that ended other than C(Succeeded)
        fails the task. The result files are named after the action's own commands.
      - Takes the place of O(machine_id) / O(computer_dns_name), O(comment) and O(commands); requires O(dest).
      - A task whose download failed after the commands succeeded names the action in its message and in RV(machine_action).
    type: str
    version_added: 1.0.0
  comment:
    description:
      - Why the commands run; MDE records it with the action (C(requestorComment)). Must not be empty.
      - It also identifies the action if the answer to the launch is lost (timeout or broken connection).
      - Required unless O(action_id) is given.
    type: str
    required: false  # overrides the launch fragment, where it is required
  commands:
    description:
      - The commands, run in order; after a failed command the remaining ones do not run.
      - Documented order of types is C(PutFile), then C(RunScript), then C(GetFile).
      - Required unless O(action_id) is given.
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - V(PutFile) copies a file of the live response library to the machine (params C(FileName)).
          - V(RunScript) runs a library script (params C(ScriptName), optional C(Args)); it times out after 10 minutes.
          - V(GetFile) collects a file from the machine (params C(Path)).
        type: str
        required: true
        choices: [PutFile, RunScript, GetFile]
      params:
        description:
          - "The command's parameters as a mapping, for example C({ScriptName: minidump.ps1, Args: OfficeClickToRun})."
          - The module sends them as the API's list of C(key)/C(value) pairs.
        type: dict
        required: true
  dest:
    description:
      - Folder for the results; it must exist and be writable. Implies waiting (see O(wait_timeout)).
      - Each result is written atomically, mode 0600, as C(<index>_<type>_<name>). A C(RunScript) result is the JSON transcript
        with C(script_name), C(exit_code), C(script_output) and C(script_errors); a C(GetFile) result is the file. C(PutFile) has
        no result.
    type: path
  force:
    description:
      - Run the commands and download again (with O(action_id), download again) even when every result is present in O(dest).
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
      - Reports whether the commands would run and results be written; runs and writes nothing.
  idempotent:
    details:
      - With O(dest), present results mean done. Without it, the same commands still running are never sent twice, but once they
        have finished, running the task again runs them again.
      - With O(action_id) nothing runs on the machine; the task only downloads, and present results mean done.
notes:
  - Calls C(GET /api/machineactions), C(POST /api/machines/{id}/runliveresponse) and
    C(GET /api/machineactions/{id}/GetLiveResponseResultDownloadLink(index=N)). The app needs C(Machine.LiveResponse) and
    C(Machine.Read.All); MDE Plan 2 is required.
  - The API allows 10 live response calls a minute (the shared rate budget keeps to it) and one live response session per machine;
    a session with other commands still running fails the task with a clear message.
  - Downloads go to a storage host without the bearer token, TLS verified with O(ca_path) / O(validate_certs).
seealso:
  - module: defender.endpoint.mde_machine_investigation_package
  - name: Run live response API
    description: Microsoft's reference for the call.
    link: https://learn.microsoft.com/defender-endpoint/api/run-live-response
'''

EXAMPLES = r'''
- name: The evidence folders of the incident, for the responders only (dest must exist)
  ansible.builtin.file:
    path: "{{ item }}"
    state: directory
    mode: '0700'
  loop: [~/evidence/INC-4711/lt-0412, ~/evidence/INC-4711/lt-0412-earlier]
  delegate_to: localhost

- name: Dump a process and fetch the dump
  defender.endpoint.mde_machine_live_response:
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    comment: INC-4711 memory of the suspicious process
    commands:
      - type: PutFile
        params: {FileName: minidump.ps1}
      - type: RunScript
        params: {ScriptName: minidump.ps1, Args: OfficeClickToRun}
      - type: GetFile
        params: {Path: 'C:\windows\TEMP\OfficeClickToRun.dmp.zip'}
    dest: ~/evidence/INC-4711/lt-0412
    wait_timeout: 1800
  delegate_to: localhost
  register: lr

- name: Show the script's output
  ansible.builtin.debug:
    msg: "{{ (lr.results | selectattr('type', 'equalto', 'RunScript') | first).script_output }}"

- name: Download the results of a session that already ran (runs nothing again)
  defender.endpoint.mde_machine_live_response:
    action_id: 988cc94e-7a8f-4b28-ab65-54970c5d5018
    dest: ~/evidence/INC-4711/lt-0412-earlier
  delegate_to: localhost
'''

RETURN = r'''
machine_action:
  description: The live response action, in snake_case, with C(commands) and their C(command_status). V(null) when every result
    was already present, or in check mode when the commands would run.
  returned: always
  type: dict
  sample:
    id: 988cc94e-7a8f-4b28-ab65-54970c5d5018
    type: LiveResponse
    status: Succeeded
machine_id:
  description: The ID of the machine (not returned when every result was already present).
  returned: when the machine or the action was looked up
  type: str
  sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
results:
  description: With O(dest), one entry per command that has a result.
  returned: with O(dest)
  type: list
  elements: dict
  sample:
    - index: 1
      type: RunScript
      dest: /srv/evidence/INC-4711/lt-0412/1_RunScript_minidump.ps1.json
      sha256: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
      size: 312
      exit_code: 0
      script_output: "..."
      script_errors: ""
  contains:
    index:
      description: The command's index in O(commands) (with O(action_id), in the action's commands).
      type: int
      returned: always
    type:
      description: The command type.
      type: str
      returned: always
    dest:
      description: The result file.
      type: str
      returned: always
    sha256:
      description: SHA-256 of the result file.
      type: str
      returned: always
    exit_code:
      description: For C(RunScript), the script's exit code from the transcript.
      type: int
      returned: for RunScript results
    script_output:
      description: For C(RunScript), the script's output.
      type: str
      returned: for RunScript results
'''

from ansible_collections.defender.endpoint.plugins.module_utils import _downloads
from ansible_collections.defender.endpoint.plugins.module_utils import _runner


def main():
    _runner.run_live_response(dict(
        commands=dict(type='list', elements='dict', options=dict(
            type=dict(type='str', required=True, choices=sorted(_downloads.LIVE_RESPONSE_PARAMS)),
            params=dict(type='dict', required=True),
        )),
    ), mutually_exclusive=[('action_id', 'commands')], required_one_of=[('commands', 'action_id')])


if __name__ == '__main__':
    main()
