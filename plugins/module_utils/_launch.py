# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Launching machine actions without ever launching twice.

Before a launch, the machine's actions of that type are looked up on the server, in one call: the
non-final ones, and every one created in the last few minutes whatever its status. A non-final one
with the same parameters is returned (not changed), one with other parameters is a clear error
(MDE runs one action of a kind at a time). The IDs found are the snapshot of what existed before
the launch. The launching POST is never retried blindly: after a timeout or a broken connection,
the action it may have created is looked for (same type, parameters and comment, created no
earlier than a few minutes before the request, and not in the snapshot) before deciding. A 400
such as ActiveRequestAlreadyExists, or a 201 returning an action that already existed, is not a
change.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time
from datetime import datetime

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils._http import join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils._module import MdeModule
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CALL_POLICIES
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils._machine import Machines, check_computer_dns_name

# How far back a lost launch may have been created, for clock skew between controller and service.
CLOCK_SKEW = 300.0
ACTIVE_STATUSES = ['Pending', 'InProgress', 'Succeeded']

LAUNCH_ARGSPEC = dict(
    machine_id=dict(type='str'),
    computer_dns_name=dict(type='str'),
    comment=dict(type='str', required=True),
    wait=dict(type='bool', default=False),
    wait_timeout=dict(type='int', default=600),
)


DOWNLOAD_ARGSPEC = dict(
    action_id=dict(type='str'),
    dest=dict(type='path'),
    force=dict(type='bool', default=False),
)


class LaunchSpec:
    """One kind of launch: action type, URL verb, rate-limit API name, body (without Comment) and parameter match."""

    def __init__(self, action_type, verb, api, body=None, same=None, describe=None, exclusive=True):
        self.exclusive = exclusive  # MDE runs one action of this type per machine at a time
        self.action_type = action_type
        self.verb = verb
        self.api = api
        self.body = body or {}
        self.same = same or (lambda action: True)
        self.describe = describe or action_type


def _newest_first(actions):
    return sorted(actions, key=lambda a: a.get('creationDateTimeUtc') or '', reverse=True)


def _iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def _ids(actions):
    return set((a.get('id') or '').lower() for a in actions if a.get('id'))


def _running_other(action):
    return '%s action %s (%s, created %s, comment "%s")' % (action.get('type'), action.get('id'), action.get('status'),
                                                            action.get('creationDateTimeUtc'), action.get('requestorComment'))


class Launcher:

    def __init__(self, client, clock=time.time):
        self.client = client
        self.clock = clock
        self.actions = ma.MachineActions(client)

    def running(self, machine_id, action_type):
        """Non-final actions of a type on a machine, newest first."""
        found = self.actions.list(ma.build_filter(machine_id=machine_id, types=[action_type], statuses=ma.NON_FINAL_STATUSES))
        return _newest_first([a for a in found if not ma.is_final(a.get('status'))])

    def look_up(self, machine_id, types, statuses):
        """The look-up before a launch, one list call: the machine's actions of ``types`` that have one of
        ``statuses`` (any age), and every one created since CLOCK_SKEW before now whatever its status.

        The second part makes the answer a snapshot of the actions that a lost launch's recovery
        (which looks CLOCK_SKEW back from the request) could otherwise take for the new one.
        """
        since = _iso(self.clock() - CLOCK_SKEW)
        return self.actions.list(ma.build_filter(machine_id=machine_id, types=types, statuses=statuses, or_created_after=since))

    def active(self, machine_id, types):
        """Actions of these types that are Pending, InProgress or Succeeded, newest first (the state rule of design.md)."""
        return active_of(self.look_up(machine_id, types, ACTIVE_STATUSES))

    def launch(self, machine_id, spec, comment, check_mode, existing=None, known=None):
        """Returns (action or None in check mode, changed).

        ``existing``: the machine's non-final actions of this type when the caller already has
        them (from the same look-up that gave the state), saving a request; ``known`` then holds
        the IDs of every action that look-up found (``look_up``: final ones created in the last
        CLOCK_SKEW seconds included), the snapshot of what existed before the launch.
        """
        if existing is None:
            found = self.look_up(machine_id, [spec.action_type], ma.NON_FINAL_STATUSES)
            existing = _newest_first([a for a in found if not ma.is_final(a.get('status'))])
            known = _ids(found)
        known = _ids(existing) | set(k.lower() for k in (known or ()))
        same = [a for a in existing if spec.same(a)]
        if same:
            return same[0], False
        if existing and spec.exclusive:
            raise self._busy(existing[0], spec)
        if check_mode:
            return None, True
        started = self.clock()
        body = dict(spec.body)
        body['Comment'] = comment
        try:
            dummy, action = self.client.request('POST', '/api/machines/%s/%s' % (machine_id, spec.verb), spec.api, body=body,
                                                call='launch')
        except MdeError as err:
            if err.status == 400:
                # ActiveRequestAlreadyExists ("Action is already in progress"), or a collection already running:
                # whatever the code, the server is the judge of what runs.
                again = self.running(machine_id, spec.action_type)
                same = [a for a in again if spec.same(a)]
                if same:
                    return same[0], False
                if again:
                    # the service refused because of a running action with other parameters
                    raise self._busy(again[0], spec, refused=err)
                err.msg = join_sentences(err.msg, 'Nothing was launched.')
                err.args = (err.msg,)
                raise err
            if err.maybe_sent:
                return self._recover(machine_id, spec, comment, started, err, known), True
            raise
        if not isinstance(action, dict) or not action.get('id'):
            return self._recover(machine_id, spec, comment, started,
                                 MdeError('The API accepted the %s request but returned no action.' % spec.describe), known), True
        if not spec.same(action):
            # the service answered with another running action of this type instead of launching ours
            raise self._busy(action, spec, returned=True)
        if action['id'].lower() in known:
            return action, False
        created = _parse_epoch(action.get('creationDateTimeUtc'))
        if created is not None and created < started - CLOCK_SKEW:
            return action, False  # the API handed back an action that existed before this request
        return action, True

    def _busy(self, action, spec, refused=None, returned=False):
        if returned:
            why = 'MDE answered the request with another running %s instead of launching this one: %s. Nothing was launched' % (
                spec.action_type, _running_other(action))
        elif refused is not None:
            why = 'MDE refused the request (HTTP %s %s: %s) while another %s runs on the machine: %s' % (
                refused.status, refused.error_code or '', refused.error_message or '', spec.action_type, _running_other(action))
        else:
            why = 'A %s is still running on the machine with other parameters: %s. MDE runs one action of a kind at a time' % (
                spec.action_type, _running_other(action))
        err = MdeError('%s. Wait for it to finish, or cancel it with defender.endpoint.mde_machine_action_cancel, then run this '
                       'task again.' % why, kind='api', details={'machine_action': ma.to_result(action)})
        if refused is not None:
            err.status, err.error_code, err.error_message, err.correlation_id = (refused.status, refused.error_code,
                                                                                 refused.error_message, refused.correlation_id)
        return err

    def _recover(self, machine_id, spec, comment, started, err, known):
        """After a launch whose answer was lost: find the action it created, or fail saying nothing was launched.

        Ours is of this type, with these parameters and this comment, and not in ``known`` (the IDs
        the look-up before the launch found): an older action with the same comment (a scan run
        again within minutes, an isolation released since) is not taken for the new one.
        """
        odata_filter = ma.build_filter(machine_id=machine_id, types=[spec.action_type], created_after=_iso(started - CLOCK_SKEW))
        try:
            found = self.actions.list(odata_filter)
        except MdeError as lookup_err:
            raise MdeError(join_sentences(err.msg, 'Whether the %s was launched could not be checked either (%s). Look it up with '
                                                   'defender.endpoint.mde_machine_action_info before running this task again.'
                                          % (spec.describe, lookup_err.msg)), kind='transport', status=err.status)
        alike = [a for a in found if a.get('type') == spec.action_type and a.get('requestorComment') == comment and spec.same(a)]
        ours = _newest_first([a for a in alike if (a.get('id') or '').lower() not in known])
        if ours:
            return ours[0]
        older = ''
        if alike:
            older = ' (%s, with this comment, existed before the request and is not this one)' % ', '.join(
                sorted(a.get('id') or '' for a in alike))
        raise MdeError(join_sentences(err.msg, 'No %s action with this comment appeared on the machine%s, so it was not launched; '
                                               'running the task again is safe.' % (spec.action_type, older)),
                       kind=err.kind, status=err.status, error_code=err.error_code, error_message=err.error_message,
                       correlation_id=err.correlation_id)


def active_of(found):
    """The actions that are Pending, InProgress or Succeeded, newest first (the state rule of design.md)."""
    return _newest_first([a for a in found if (a.get('status') or '').lower() in ('pending', 'inprogress', 'succeeded')])


def _parse_epoch(value):
    if not value:
        return None
    try:
        text = value.rstrip('Zz')
        if '.' in text:
            head, frac = text.split('.', 1)
            text = '%s.%s' % (head, frac[:6])
            when = datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%f')
        else:
            when = datetime.strptime(text, '%Y-%m-%dT%H:%M:%S')
    except ValueError:
        return None
    return (when - datetime(1970, 1, 1)).total_seconds()


def launch_module(argument_spec=None, downloads=False, **kwargs):
    """An MdeModule with the options every launching module shares.

    ``downloads``: the module fetches results (``dest``, ``force``) and can fetch those of an existing
    action instead of launching (``action_id``, which then stands for machine and comment).
    """
    spec = dict(LAUNCH_ARGSPEC)
    exclusive, one_of = [('machine_id', 'computer_dns_name')], [('machine_id', 'computer_dns_name')]
    if downloads:
        spec.update(DOWNLOAD_ARGSPEC)
        spec['comment'] = dict(type='str')
        exclusive += [('action_id', 'machine_id'), ('action_id', 'computer_dns_name'), ('action_id', 'comment')]
        one_of = [('machine_id', 'computer_dns_name', 'action_id'), ('comment', 'action_id')]
        kwargs.setdefault('required_by', {})['action_id'] = 'dest'
    spec.update(argument_spec or {})
    kwargs.setdefault('mutually_exclusive', []).extend(exclusive)
    kwargs.setdefault('required_one_of', []).extend(one_of)
    kwargs.setdefault('supports_check_mode', True)
    return MdeModule(argument_spec=spec, **kwargs)


def check_launch_options(module):
    """Bad input fails before any request."""
    p = module.params
    if p['wait_timeout'] <= 0:
        raise config_error('wait_timeout must be a positive number of seconds, got %d.' % p['wait_timeout'])
    if p.get('action_id') is not None:
        p['action_id'] = ma.check_action_id(p['action_id'], option='action_id')
        return
    ma.check_comment(p['comment'])
    if p['machine_id']:
        ma.check_machine_id(p['machine_id'])
    else:
        check_computer_dns_name(p['computer_dns_name'])


def resolve_machine(module):
    p = module.params
    if p['machine_id']:
        return p['machine_id'].lower()
    return Machines(module.client).resolve(computer_dns_name=check_computer_dns_name(p['computer_dns_name']))


def finish(module, launcher, action, changed, must_wait, extra=None):
    """Wait when asked; a final status other than Succeeded fails the task with the action in the result."""
    p = module.params
    result = {'changed': changed, 'machine_action': ma.to_result(action) if action else None}
    if extra:
        result.update(extra)
    if action and (p['wait'] or must_wait) and not module.check_mode:
        try:
            action = launcher.actions.wait(action, p['wait_timeout'], module.settings.poll_interval)
        except MdeError as err:
            err.details = dict(result, **err.details)  # a launched action stays changed when the wait runs out
            raise
        result['machine_action'] = ma.to_result(action)
        if (action.get('status') or '').lower() != 'succeeded':
            raise MdeError('Machine action %s (%s) ended %s, not Succeeded.' % (action.get('id'), action.get('type'), action.get('status')),
                           kind='api', details=result)
    return action, result


def exit_launch(module, run):
    """Run a launching module's flow, turning every MdeError into a clear failure."""
    try:
        check_launch_options(module)
        result = run()
    except MdeError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


def run_action(module, spec, must_wait=False, after=None):
    """A plain launch (scan, quarantine, package, live response): reuse a running twin, else launch once."""
    launcher = Launcher(module.client)
    machine_id = resolve_machine(module)
    action, changed = launcher.launch(machine_id, spec, module.params['comment'], module.check_mode)
    action, result = finish(module, launcher, action, changed, must_wait)
    result['machine_id'] = machine_id
    if after is not None and action is not None and not module.check_mode:
        _fetch(action, result, after, 'To fetch them without starting a new %s, run the task with action_id: %s (and dest).'
               % (spec.describe, action.get('id')))
    return result


def run_existing(module, spec, after, present=None):
    """Fetch the results of an existing action (``action_id``) instead of launching one.

    Waits while it is Pending or InProgress; an action of another type, or one that ended other
    than Succeeded, fails. ``present(action)`` may return the result of a run that finds every
    file already there (nothing is downloaded).
    """
    p = module.params
    launcher = Launcher(module.client)
    action = launcher.actions.find(p['action_id'])
    if action is None:
        raise MdeError('No machine action has the ID %s in the tenant; check action_id (the failed task that started the action '
                       'names it, and defender.endpoint.mde_machine_action_info lists them).' % p['action_id'], kind='api', status=404)
    if action.get('type') != spec.action_type:
        raise MdeError('Machine action %s is a %s action; action_id must name a %s action.'
                       % (action.get('id'), action.get('type'), spec.action_type), kind='api')
    result = {'changed': False, 'machine_action': ma.to_result(action), 'machine_id': action.get('machineId')}
    done = present(action) if present is not None else None
    if done is not None:
        result.update(done)
        return result
    status = action.get('status') or ''
    if ma.is_final(status) and status.lower() != 'succeeded':
        raise MdeError('Machine action %s (%s) ended %s: it has no results to fetch.' % (action.get('id'), action.get('type'), status),
                       kind='api', details=result)
    if module.check_mode:
        result['changed'] = True
        return result
    action, waited = finish(module, launcher, action, False, True)
    result.update(waited)
    _fetch(action, result, after, 'Running the task again tries again.')
    return result


def _fetch(action, result, after, hint):
    """Run ``after(action)`` (the downloads) into ``result``; a failure keeps the action and what is known in its result."""
    try:
        result.update(after(action))
    except MdeError as err:
        err.msg = join_sentences('Machine action %s (%s) %s, but fetching its results failed: %s' % (
            action.get('id'), action.get('type'), action.get('status'), err.msg), hint)
        err.args = (err.msg,)
        err.details = dict(result, **err.details)
        raise


def run_state(module, types, desired_type, spec, states, conflict=None):
    """A desired-state launch (isolation, restriction, offboard).

    The current state is the newest action of ``types`` that is Pending, InProgress or
    Succeeded (design.md); ``states`` maps its type (None: no such action) to a state name.
    Nothing is launched when it is already the desired one.
    """
    launcher = Launcher(module.client)
    machine_id = resolve_machine(module)
    found = launcher.look_up(machine_id, list(types), ACTIVE_STATUSES)  # the state, what runs, and the snapshot: one call
    history = active_of(found)
    current = history[0] if history else None
    before = states[current['type'] if current else None]
    wanted = states[desired_type]
    if before == wanted:
        if current is not None and conflict is not None:
            conflict(current)
        changed = False
        action, result = finish(module, launcher, current, False, False)
    else:
        running = [a for a in history if a.get('type') == spec.action_type and not ma.is_final(a.get('status'))]
        action, changed = launcher.launch(machine_id, spec, module.params['comment'], module.check_mode, existing=running,
                                          known=_ids(found))
        action, result = finish(module, launcher, action, changed, False)
    result['machine_id'] = machine_id
    result['state'] = wanted
    if module._diff:
        result['diff'] = {'before': {'state': before, 'action_id': current.get('id') if current else None},
                          'after': {'state': wanted, 'action_id': action.get('id') if action else None}}
    return result


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


def fetch_result(module, path, api, dest):
    """Download what a link call (package URI, live response result) points to into ``dest``.

    The links are short-lived: when the storage host refuses one (HTTP 403, expired), a fresh
    link is asked for (once: ``CALL_POLICIES['storage']``), as the API documents; nothing runs
    again on the machine.
    """
    policy = CALL_POLICIES['storage']
    relinks = 0
    while True:
        url = fetch_link(module, path, api)
        try:
            return module.client.download(url, dest)
        except MdeError as err:
            if err.status not in policy.relink_statuses or relinks >= policy.relinks:
                raise
        relinks += 1


def fetch_link(module, path, api):
    """GET a download-link call (package URI, live response result) and return the URL.

    The package URI answers 404 until the collection is complete; right after the action is
    seen Succeeded a short 404 window is tolerated, ``CALL_POLICIES['link'].not_found_polls``
    asks ``poll_interval`` apart. The link is one call: its 404 polls and the waits of its
    requests share one bound (``_retry.CallWaits``).
    """
    attempts = CALL_POLICIES['link'].not_found_polls
    waits = module.client.call_waits()
    for attempt in range(attempts):
        try:
            data = module.client.request('GET', path, api, call='link', waits=waits)[1]
            break
        except MdeError as err:
            if err.status != 404 or attempt == attempts - 1:
                raise
            interval = module.settings.poll_interval
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
