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
attributes:
  check_mode:
    support: full
    details:
      - Reports whether the commands would run and results be written; runs and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
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

import json
import os
import re

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils import _launch

PARAMS = {'PutFile': (['FileName'], []), 'RunScript': (['ScriptName'], ['Args']), 'GetFile': (['Path'], [])}


def check_commands(commands):
    """Validate commands before any request; return them in the API's shape."""
    if not commands:
        raise config_error('commands must list at least one command, for example {type: RunScript, params: {ScriptName: x.ps1}}.')
    api = []
    for index, command in enumerate(commands):
        kind, params = command['type'], command['params'] or {}
        required, optional = PARAMS[kind]
        missing = [k for k in required if not str(params.get(k) or '').strip()]
        if missing:
            raise config_error('commands[%d] (%s) needs params %s, for example {%s: ...}.' % (index, kind, ', '.join(missing), missing[0]))
        unknown = sorted(set(params) - set(required) - set(optional))
        if unknown:
            raise config_error('commands[%d] (%s) has unknown params %s; allowed: %s (keys are case-sensitive).'
                               % (index, kind, ', '.join(unknown), ', '.join(required + optional)))
        api.append({'type': kind, 'params': [{'key': k, 'value': str(params[k])} for k in required + optional if k in params]})
    return api


def result_name(index, command):
    params = dict((p['key'], p['value']) for p in command['params'])
    if command['type'] == 'RunScript':
        name = params['ScriptName'] + '.json'
    else:
        name = re.split(r'[\\/]', params['Path'].rstrip('\\/'))[-1] or 'file'
    return '%d_%s_%s' % (index, command['type'], re.sub(r'[^A-Za-z0-9._\-]', '_', name))


def main():
    module = _launch.launch_module(dict(
        commands=dict(type='list', elements='dict', options=dict(
            type=dict(type='str', required=True, choices=sorted(PARAMS)),
            params=dict(type='dict', required=True),
        )),
    ), downloads=True, mutually_exclusive=[('action_id', 'commands')], required_one_of=[('commands', 'action_id')])
    p = module.params
    try:
        commands = check_commands(p['commands']) if not p['action_id'] else None
        dest = _launch.check_dest(p['dest'], folder=True) if p['dest'] else None
    except MdeError as err:
        module.fail_from_error(err)

    def of_action(action):
        """The commands of an existing action, in the API's shape (as ``commands``)."""
        return [dict((c.get('command') or {}), params=(c.get('command') or {}).get('params') or []) for c in action.get('commands') or []]

    def comparable(cmds):
        return [(c.get('type'), sorted((x.get('key'), x.get('value')) for x in c['params'])) for c in cmds]

    spec = _launch.LaunchSpec('LiveResponse', 'runliveresponse', 'run_live_response', body={'Commands': commands},
                              same=lambda action: comparable(of_action(action)) == comparable(commands), describe='live response session')

    def targets(cmds):
        return dict((i, os.path.join(dest, result_name(i, c))) for i, c in enumerate(cmds) if c.get('type') != 'PutFile') if dest else {}

    def describe(index, kind, path, digest, size):
        entry = {'index': index, 'type': kind, 'dest': path, 'sha256': digest, 'size': size}
        if kind == 'RunScript':
            try:
                with open(path, 'r') as handle:
                    transcript = json.load(handle)
                for key in ('exit_code', 'script_output', 'script_errors'):
                    entry[key] = transcript.get(key)
            except (IOError, OSError, ValueError):
                pass
        return entry

    def present(cmds):
        """The results when every one is already in dest (and force is off), else None."""
        found = targets(cmds)
        if not found or p['force'] or not all(os.path.exists(t) for t in found.values()):
            return None
        return {'results': [describe(i, cmds[i]['type'], t, _files.sha256_file(t), os.path.getsize(t)) for i, t in sorted(found.items())]}

    def download(action):
        cmds = commands if commands is not None else of_action(action)
        results = []
        for index, path in sorted(targets(cmds).items()):
            digest, size = _launch.fetch_result(module, '/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=%d)' % (
                action['id'], index), 'get_live_response_result', path)
            results.append(describe(index, cmds[index]['type'], path, digest, size))
        return dict({'results': results}, **({'changed': True} if results else {}))

    def run():
        if p['action_id']:
            return _launch.run_existing(module, spec, download, present=lambda action: present(of_action(action)))
        done = present(commands)
        if done is not None:
            return dict(done, changed=False, machine_action=None)
        result = _launch.run_action(module, spec, must_wait=bool(dest), after=download if dest else None)
        if dest and module.check_mode:
            result['changed'] = True
        return result

    _launch.exit_launch(module, run)


if __name__ == '__main__':
    main()
