# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Launching machine actions without ever launching twice (the service below the launching modules).

Before a launch, the machine's actions of that type are looked up on the server, in one call: the
non-final ones, and every one created in the last few minutes whatever its status. A non-final one
with the same parameters is returned (not changed), one with other parameters is a clear error
(MDE runs one action of a kind at a time). The IDs found are the snapshot of what existed before
the launch. The launching POST is never retried blindly: after a timeout or a broken connection,
the action it may have created is looked for (same type, parameters and comment, created no
earlier than a few minutes before the request, and not in the snapshot) before deciding. A 400
such as ActiveRequestAlreadyExists, or a 201 returning an action that already existed, is not a
change. Also the desired-state rule of the state modules and the launch of each module, from its plain
option values.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import time
from datetime import datetime

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils._http import join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils import _downloads
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma

# How far back a lost launch may have been created, for clock skew between controller and service.
CLOCK_SKEW = 300.0
ACTIVE_STATUSES = ['Pending', 'InProgress', 'Succeeded']


class LaunchSpec:
    """One kind of launch: action type, URL verb, rate-limit API name, body (without Comment) and parameter match."""

    def __init__(self, action_type, verb, api, body=None, same=None, describe=None, exclusive=True, max_age=None):
        self.exclusive = exclusive  # MDE runs one action of this type per machine at a time
        self.max_age = max_age  # seconds: one with the same parameters that Succeeded this recently counts as done
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


# A launch answered 404: the ID is well formed (checked before any request) but names no machine.
UNKNOWN_MACHINE_HINT = ('No machine has the ID %s in the tenant (or it is outside the data retention period), so nothing was '
                        'launched. Find a machine\'s ID with defender.endpoint.mde_machine_info by computer_dns_name, or pass '
                        'computer_dns_name instead of machine_id.')


def _running_other(action):
    return '%s action %s (%s, created %s, comment "%s")' % (action.get('type'), action.get('id'), action.get('status'),
                                                            action.get('creationDateTimeUtc'), action.get('requestorComment'))


class Launcher:

    def __init__(self, client, clock=time.time):
        self.client = client
        self.clock = clock
        self.actions = ma.MachineActions(client)
        self.reused = None  # what the last launch() returned instead of launching: 'running', 'succeeded' or None

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
        """Actions of these types that are Pending, InProgress or Succeeded, newest first (the state rule)."""
        return active_of(self.look_up(machine_id, types, ACTIVE_STATUSES))

    def launch(self, machine_id, spec, comment, check_mode, existing=None, known=None):
        """Returns (action or None in check mode, changed).

        ``existing``: the machine's non-final actions of this type when the caller already has
        them (from the same look-up that gave the state), saving a request; ``known`` then holds
        the IDs of every action that look-up found (``look_up``: final ones created in the last
        CLOCK_SKEW seconds included), the snapshot of what existed before the launch.
        """
        self.reused = None
        recent = []
        if existing is None:
            # with max_age, the same look-up also brings the Succeeded ones (no extra call)
            found = self.look_up(machine_id, [spec.action_type], ma.NON_FINAL_STATUSES + (['Succeeded'] if spec.max_age else []))
            existing = _newest_first([a for a in found if not ma.is_final(a.get('status'))])
            known = _ids(found)
            recent = self._succeeded_within(found, spec) if spec.max_age else []
        known = _ids(existing) | set(k.lower() for k in (known or ()))
        same = [a for a in existing if spec.same(a)]
        if same:
            self.reused = 'running'
            return same[0], False
        if recent:
            self.reused = 'succeeded'
            return recent[0], False
        if existing and spec.exclusive:
            raise self._busy(existing[0], spec)
        if check_mode:
            return None, True
        started = self.clock()
        body = dict(spec.body)
        body['Comment'] = comment
        try:
            dummy, action = self.client.request('POST', '/api/machines/%s/%s' % (machine_id, spec.verb), spec.api, body=body,
                                                call='launch', not_found_hint=UNKNOWN_MACHINE_HINT % machine_id)
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

    def _succeeded_within(self, found, spec):
        """The actions with the spec's parameters that Succeeded within ``spec.max_age`` seconds, by their completion
        time (lastUpdateDateTimeUtc, else the creation time, which is no later), most recently completed first."""
        since = self.clock() - spec.max_age
        done = []
        for action in found:
            if (action.get('status') or '').lower() != 'succeeded' or action.get('type') != spec.action_type or not spec.same(action):
                continue
            when = _parse_epoch(action.get('lastUpdateDateTimeUtc') or action.get('lastUpdateTimeUtc') or action.get('creationDateTimeUtc'))
            if when is not None and when >= since:
                done.append((when, action))
        return [action for dummy, action in sorted(done, key=lambda pair: pair[0], reverse=True)]

    def ensure_state(self, machine_id, state, comment, check_mode):
        """A desired-state launch (isolation, restriction, offboard): returns a ``StateOutcome``.

        The current state is that of the newest action of ``state.types`` that is Pending, InProgress
        or Succeeded; nothing is launched when it is already the desired one. The state, what runs
        and the snapshot of a launch's recovery come from one look-up.
        """
        found = self.look_up(machine_id, list(state.types), ACTIVE_STATUSES)
        history = active_of(found)
        current = current_state_action(found, state.types)
        before = state.states[current['type'] if current else None]
        wanted = state.states[state.desired_type]
        if before == wanted:
            if current is not None and state.conflict is not None:
                state.conflict(current)
            return StateOutcome(current, before, wanted, current, False)
        running = [a for a in history if a.get('type') == state.spec.action_type and not ma.is_final(a.get('status'))]
        action, changed = self.launch(machine_id, state.spec, comment, check_mode, existing=running, known=_ids(found))
        return StateOutcome(current, before, wanted, action, changed)

    def existing(self, action_id, spec):
        """The action an ``action_id`` names, which must be of the spec's type."""
        action = self.actions.find(action_id)
        if action is None:
            raise MdeError('No machine action has the ID %s in the tenant; check action_id (the failed task that started the action '
                           'names it, and defender.endpoint.mde_machine_action_info lists them).' % action_id, kind='api', status=404)
        if action.get('type') != spec.action_type:
            raise MdeError('Machine action %s is a %s action; action_id must name a %s action.'
                           % (action.get('id'), action.get('type'), spec.action_type), kind='api')
        return action

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
        err = MdeError(join_sentences(why, 'Wait for it to finish, or cancel it with defender.endpoint.mde_machine_action_cancel, then '
                                           'run this task again.'), kind='api', details={'machine_action': ma.to_result(action)})
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
    """The actions that are Pending, InProgress or Succeeded, newest first: the state rule (a machine's state
    is given by the newest action of its family that did not fail, was not cancelled and did not time out)."""
    return _newest_first([a for a in found if (a.get('status') or '').lower() in ('pending', 'inprogress', 'succeeded')])


def current_state_action(actions, types):
    """The one derivation of a machine's isolation or app-restriction state, shared by the state modules and the
    inventory plugin: among ``actions`` (of one machine), the newest of ``types`` that is Pending, InProgress or
    Succeeded, or None when there is none. Failed, TimeOut and Cancelled actions say nothing about the state."""
    wanted = set(types)
    history = active_of([a for a in actions if a.get('type') in wanted])
    return history[0] if history else None


# The states the inventory reports per family: the newest action's type gives the state once it has Succeeded and
# the state it is moving to while Pending or InProgress; no such action at all is "unknown".
STATE_NAMES = {
    'isolation': {'Isolate': ('isolated', 'isolating'), 'Unisolate': ('released', 'releasing')},
    'app_restriction': {'RestrictCodeExecution': ('restricted', 'restricting'),
                        'UnrestrictCodeExecution': ('unrestricted', 'unrestricting')},
}
UNKNOWN_STATE = 'unknown'


def state_of(actions, family):
    """(state name, the action that gives it or None) of one machine for ``family`` (a key of STATE_NAMES),
    through ``current_state_action``."""
    names = STATE_NAMES[family]
    action = current_state_action(actions, names)
    if action is None:
        return UNKNOWN_STATE, None
    settled, moving = names[action['type']]
    return (settled if (action.get('status') or '').lower() == 'succeeded' else moving), action


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


class StateLaunch:
    """A desired-state family: the action ``types`` that give the state, ``states`` mapping the newest one's
    type (None: none) to a state name, the ``desired_type``, the ``spec`` that launches it and an optional
    ``conflict(current)`` check when the state is already the desired one."""

    def __init__(self, types, desired_type, spec, states, conflict=None):
        self.types = types
        self.desired_type = desired_type
        self.spec = spec
        self.states = states
        self.conflict = conflict


class StateOutcome:
    """What ``ensure_state`` found and did: the ``current`` state-giving action, the state ``before`` and
    ``wanted``, the ``action`` that stands for the state now (None in check mode) and ``changed``."""

    def __init__(self, current, before, wanted, action, changed):
        self.current = current
        self.before = before
        self.wanted = wanted
        self.action = action
        self.changed = changed


# The launches of the modules, from their plain option values -----------------------------------

ISOLATION_SCOPES = {'full': 'Full', 'selective': 'Selective', 'unmanaged_device': 'UnManagedDevice'}


def isolation(state, isolation_type):
    scope = ISOLATION_SCOPES[isolation_type]

    def same_scope(action):
        return (action.get('scope') or scope).lower() == scope.lower()

    def conflict(current):
        if current['type'] == 'Isolate' and not same_scope(current):
            raise MdeError('The machine is already isolated with isolation type %s (action %s, %s). Release it first to change '
                           'the isolation type.' % (current.get('scope'), current.get('id'), current.get('status')), kind='api')

    if state == 'isolated':
        spec = LaunchSpec('Isolate', 'isolate', 'isolate', body={'IsolationType': scope}, same=same_scope, describe='%s isolation' % scope)
    else:
        spec = LaunchSpec('Unisolate', 'unisolate', 'unisolate', describe='release from isolation')
    return StateLaunch(('Isolate', 'Unisolate'), spec.action_type, spec,
                       {'Isolate': 'isolated', 'Unisolate': 'released', None: 'released'}, conflict)


def app_restriction(state):
    if state == 'restricted':
        spec = LaunchSpec('RestrictCodeExecution', 'restrictCodeExecution', 'restrict_code_execution', describe='code execution restriction')
    else:
        spec = LaunchSpec('UnrestrictCodeExecution', 'unrestrictCodeExecution', 'unrestrict_code_execution',
                          describe='removal of the restriction')
    return StateLaunch(('RestrictCodeExecution', 'UnrestrictCodeExecution'), spec.action_type, spec,
                       {'RestrictCodeExecution': 'restricted', 'UnrestrictCodeExecution': 'unrestricted', None: 'unrestricted'})


def offboard():
    spec = LaunchSpec('Offboard', 'offboard', 'offboard', describe='offboarding')
    return StateLaunch(('Offboard',), 'Offboard', spec, {'Offboard': 'offboarded', None: 'onboarded'})


_DURATION = re.compile(r'^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$')


def parse_duration(value, option):
    """``30m``, ``4h``, ``2d``, ``90s`` (or a combination such as ``1h30m``) as seconds, > 0."""
    text = str(value).strip().lower().replace(' ', '')
    match = _DURATION.match(text)
    if not text or not match:
        raise config_error('%s must be a duration such as 30m, 4h, 2d or 90s (whole numbers followed by d, h, m or s); got "%s".'
                           % (option, value))
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise config_error('%s must be longer than 0 seconds; got "%s".' % (option, value))
    return total


def av_scan(scan_type, max_age=None):
    """``max_age``: the option's text; a scan of this type that Succeeded that recently counts as done."""
    scope = scan_type.capitalize()
    return LaunchSpec('RunAntiVirusScan', 'runAntiVirusScan', 'run_antivirus_scan', body={'ScanType': scope},
                      same=lambda action: (action.get('scope') or scope).lower() == scope.lower(),
                      describe='%s antivirus scan' % scope.lower(),
                      max_age=parse_duration(max_age, 'max_age') if max_age is not None else None)


def file_quarantine(sha1_given):
    sha1 = (sha1_given or '').strip().lower()
    if not re.match(r'^[0-9a-f]{40}$', sha1):
        raise config_error('sha1 must be the SHA-1 of the file, 40 hexadecimal characters; got "%s". The API accepts no other '
                           'hash here.' % sha1_given)

    def same_file(action):
        info = action.get('relatedFileInfo') or {}
        return (info.get('fileIdentifier') or '').lower() == sha1

    return LaunchSpec('StopAndQuarantineFile', 'StopAndQuarantineFile', 'stop_and_quarantine_file', body={'Sha1': sha1},
                      same=same_file, describe='stop and quarantine of %s' % sha1, exclusive=False)


def investigation_package():
    return LaunchSpec('CollectInvestigationPackage', 'collectInvestigationPackage', 'collect_investigation_package',
                      describe='investigation package collection')


def live_response(commands):
    """``commands`` in the API's shape (``_downloads.check_commands``), None for an ``action_id`` run."""
    return LaunchSpec('LiveResponse', 'runliveresponse', 'run_live_response', body={'Commands': commands},
                      same=lambda action: _downloads.comparable(_downloads.commands_of(action)) == _downloads.comparable(commands),
                      describe='live response session')
