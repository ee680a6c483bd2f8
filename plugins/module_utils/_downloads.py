# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Downloading the results of machine actions (investigation package, live response results).

A link call (``getPackageUri``, ``GetLiveResponseResultDownloadLink``) gives a short-lived link to a
storage host: the link call is asked again while it answers 404 right after the action succeeded,
and a link the storage host refuses as expired is replaced once (both as ``_retry.CALL_POLICIES``
says). The destination is checked before any request; files appear only when complete. Also the
live response vocabulary: its commands in the API's shape and the names of their result files.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils._http import join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CALL_POLICIES
from ansible_collections.defender.endpoint.plugins.module_utils import _files

# Live response commands: required and optional params of each type (keys are case-sensitive).
LIVE_RESPONSE_PARAMS = {'PutFile': (['FileName'], []), 'RunScript': (['ScriptName'], ['Args']), 'GetFile': (['Path'], [])}


def check_dest(path, option='dest', folder=False):
    """A download target whose folder exists and is writable, checked before any request."""
    target = os.path.abspath(path)
    parent = target if folder else os.path.dirname(target)
    if folder and os.path.exists(target) and not os.path.isdir(target):
        raise config_error('%s %s exists and is not a folder.' % (option, path))
    if not folder and os.path.isdir(target):
        raise config_error('%s %s is a folder; give the path of the file to write, for example %s/package.zip.' % (option, path, path))
    if not os.path.isdir(parent):
        raise config_error('The folder of %s (%s) does not exist; create it first.' % (option, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise config_error('The folder of %s (%s) is not writable by the user running the module.' % (option, parent))
    return target


def present_file(path):
    """``dest``, ``sha256`` and ``size`` of a file already in place."""
    return {'dest': path, 'sha256': _files.sha256_file(path), 'size': os.path.getsize(path)}


class Downloads:
    """Link calls and storage fetches over an ``MdeClient``; ``poll_interval`` spaces the 404 polls of a link call."""

    def __init__(self, client, poll_interval):
        self.client = client
        self.poll_interval = poll_interval

    def fetch(self, path, api, dest):
        """Download what a link call (package URI, live response result) points to into ``dest``;
        returns (sha256 hex, size).

        The links are short-lived: when the storage host refuses one (HTTP 403, expired), a fresh
        link is asked for (once: ``CALL_POLICIES['storage']``), as the API documents; nothing runs
        again on the machine.
        """
        policy = CALL_POLICIES['storage']
        relinks = 0
        while True:
            url = self.link(path, api)
            try:
                return self.client.download(url, dest)
            except MdeError as err:
                if err.status not in policy.relink_statuses or relinks >= policy.relinks:
                    raise
            relinks += 1

    def link(self, path, api):
        """GET a download-link call (package URI, live response result) and return the URL.

        The package URI answers 404 until the collection is complete; right after the action is
        seen Succeeded a short 404 window is tolerated, ``CALL_POLICIES['link'].not_found_polls``
        asks ``poll_interval`` apart. The link is one call: its 404 polls and the waits of its
        requests share one bound (``_retry.CallWaits``).
        """
        attempts = CALL_POLICIES['link'].not_found_polls
        waits = self.client.call_waits()
        for attempt in range(attempts):
            try:
                data = self.client.request('GET', path, api, call='link', waits=waits)[1]
                break
            except MdeError as err:
                if err.status != 404 or attempt == attempts - 1:
                    raise
                interval = self.poll_interval
                if not waits.fits(interval):
                    err.msg = join_sentences(err.msg, 'The link was still missing after %.0f s of waiting; waiting poll_interval=%s s '
                                                      'more would pass %s.' % (waits.waited, interval, waits.bound()))
                    err.args = (err.msg,)
                    raise err
                waits.sleep(interval)
        url = (data or {}).get('value') if isinstance(data, dict) else None
        if not url or not isinstance(url, str):
            raise MdeError('The API answered %s without a download link.' % path, kind='api')
        return url.strip().strip('"')  # a documented example wraps the URL in quotes

    def package(self, action, dest):
        """The investigation package of a succeeded action into ``dest``."""
        digest, size = self.fetch('/api/machineactions/%s/getPackageUri' % action['id'], 'get_package_uri', dest)
        return {'changed': True, 'dest': dest, 'sha256': digest, 'size': size}

    def live_response_results(self, action, commands, dest):
        """The result file of each command of a succeeded live response (``commands`` in the API's shape) into ``dest``."""
        results = []
        for index, path in sorted(result_targets(commands, dest).items()):
            digest, size = self.fetch('/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=%d)' % (action['id'], index),
                                      'get_live_response_result', path)
            results.append(describe_result(index, commands[index]['type'], path, digest, size))
        return dict({'results': results}, **({'changed': True} if results else {}))


# Live response ---------------------------------------------------------------------------------

def check_commands(commands):
    """Validate live response commands before any request; return them in the API's shape."""
    if not commands:
        raise config_error('commands must list at least one command, for example {type: RunScript, params: {ScriptName: x.ps1}}.')
    api = []
    for index, command in enumerate(commands):
        kind, params = command['type'], command['params'] or {}
        required, optional = LIVE_RESPONSE_PARAMS[kind]
        missing = [k for k in required if not str(params.get(k) or '').strip()]
        if missing:
            raise config_error('commands[%d] (%s) needs params %s, for example {%s: ...}.' % (index, kind, ', '.join(missing), missing[0]))
        unknown = sorted(set(params) - set(required) - set(optional))
        if unknown:
            raise config_error('commands[%d] (%s) has unknown params %s; allowed: %s (keys are case-sensitive).'
                               % (index, kind, ', '.join(unknown), ', '.join(required + optional)))
        api.append({'type': kind, 'params': [{'key': k, 'value': str(params[k])} for k in required + optional if k in params]})
    return api


def commands_of(action):
    """The commands of an existing live response action, in the API's shape (as ``check_commands`` returns them)."""
    return [dict((c.get('command') or {}), params=(c.get('command') or {}).get('params') or []) for c in action.get('commands') or []]


def comparable(commands):
    """Commands in a form that compares equal when they are the same (params in any order)."""
    return [(c.get('type'), sorted((x.get('key'), x.get('value')) for x in c['params'])) for c in commands]


def result_name(index, command):
    params = dict((p['key'], p['value']) for p in command['params'])
    if command['type'] == 'RunScript':
        name = params['ScriptName'] + '.json'
    else:
        name = re.split(r'[\\/]', params['Path'].rstrip('\\/'))[-1] or 'file'
    return '%d_%s_%s' % (index, command['type'], re.sub(r'[^A-Za-z0-9._\-]', '_', name))


def result_targets(commands, dest):
    """Index -> file in ``dest`` of each command that has a result (PutFile has none); none without ``dest``."""
    if not dest:
        return {}
    return dict((i, os.path.join(dest, result_name(i, c))) for i, c in enumerate(commands) if c.get('type') != 'PutFile')


def describe_result(index, kind, path, digest, size):
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


def present_results(commands, dest, force):
    """The results when every one is already in ``dest`` (and ``force`` is off), else None."""
    found = result_targets(commands, dest)
    if not found or force or not all(os.path.exists(t) for t in found.values()):
        return None
    return {'results': [describe_result(i, commands[i]['type'], t, _files.sha256_file(t), os.path.getsize(t))
                        for i, t in sorted(found.items())]}
