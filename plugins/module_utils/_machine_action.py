# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Machine actions: the entity's vocabulary, its snake_case return shape, and the service over an
``MdeClient`` (look-ups, the idempotent cancel of one or many, waiting) shared by the modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import time
from datetime import datetime, timedelta

from ansible_collections.defender.endpoint.plugins.module_utils._entities import EntitySet, any_of, entity_result, odata_string
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils._wait import machine_seen_note, wait_final

ACTION_TYPES = [
    'CollectInvestigationPackage', 'Isolate', 'LiveResponse', 'Offboard', 'RestrictCodeExecution',
    'RunAntiVirusScan', 'StopAndQuarantineFile', 'Unisolate', 'UnrestrictCodeExecution',
]
STATUSES = ['Pending', 'InProgress', 'Succeeded', 'Failed', 'TimeOut', 'Cancelled']
NON_FINAL_STATUSES = ['Pending', 'InProgress']
FINAL_STATUSES = frozenset(['succeeded', 'failed', 'timeout', 'cancelled', 'canceled'])
CANCELLED_STATUSES = frozenset(['cancelled', 'canceled'])

_GUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
_MACHINE_ID = re.compile(r'^[0-9a-fA-F]{32,64}$')
_NUMBER = re.compile(r'^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$')
_ISO = re.compile(r'^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$', re.I)


def is_final(status):
    return (status or '').lower() in FINAL_STATUSES


def is_cancelled(status):
    return (status or '').lower() in CANCELLED_STATUSES


def _quote_hint(value, option):
    """For an ID that YAML read as a number (digits only, or a float such as 1e+39): say to quote it."""
    if _NUMBER.match(value or ''):
        return (' It looks like a number: YAML reads an unquoted ID of digits (such as 0000...) as an integer and drops '
                'its leading zeros; quote the value (%s: "...").' % option)
    return ''


def check_action_id(value, option='id'):
    if not _GUID.match(value or ''):
        raise config_error('%s must be a machine action ID, a GUID such as 3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708; got "%s". '
                           'Find IDs with defender.endpoint.mde_machine_action_info.%s' % (option, value, _quote_hint(value, option)))
    return value.lower()


def check_machine_id(value, option='machine_id'):
    if not _MACHINE_ID.match(value or ''):
        raise config_error('%s must be an MDE device ID (40 hexadecimal characters, as in the device page URL); got "%s".%s'
                           % (option, value, _quote_hint(value, option)))
    return value.lower()


def check_comment(value, option='comment'):
    if value is None or not value.strip():
        raise config_error('%s must not be empty: MDE records it with the action, so say why (for example the incident number).'
                           % option)
    return value


def parse_timestamp(value, option):
    """ISO 8601 date or date-time to the OData literal form YYYY-MM-DDTHH:MM:SSZ (UTC)."""
    match = _ISO.match((value or '').strip())
    if not match:
        raise config_error('%s must be an ISO 8601 date or date-time such as 2025-05-01 or 2025-05-01T08:00:00Z; got "%s".'
                           % (option, value))
    year, month, day, hour, minute, second, dummy, zone = match.groups()
    try:
        when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as exc:
        raise config_error('%s is not a valid date: %s (%s).' % (option, value, exc))
    if zone and zone.upper() != 'Z':
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        try:
            when -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        except OverflowError:
            raise config_error('%s is out of range once converted to UTC: %s.' % (option, value))
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


def build_filter(machine_id=None, statuses=None, types=None, requestor=None, created_after=None, or_created_after=None):
    """An OData $filter on the documented properties (``or`` chains: ``in`` is not documented).

    ``or_created_after``: also match, whatever their status, the actions created at or after this
    time (``statuses`` or recent).
    """
    terms = []
    if machine_id:
        terms.append('machineId eq %s' % odata_string(machine_id))
    if statuses and or_created_after:
        terms.append('(%s)' % ' or '.join(['status eq %s' % odata_string(v) for v in statuses]
                                          + ['creationDateTimeUtc ge %s' % or_created_after]))
    elif statuses:
        terms.append(any_of('status', statuses))
    if types:
        terms.append(any_of('type', types))
    if requestor:
        terms.append('requestor eq %s' % odata_string(requestor))
    if created_after:
        terms.append('creationDateTimeUtc ge %s' % created_after)
    return ' and '.join(terms) or None


def to_result(entity):
    """The return shape: snake_case keys, values untouched, no @odata keys, ``lastUpdateTimeUtc`` as documented."""
    return entity_result(entity, {'lastUpdateTimeUtc': 'lastUpdateDateTimeUtc'})


class MachineActions(EntitySet):
    """Look-ups, the cancel flow and waiting over an ``MdeClient``."""

    path = '/api/machineactions'
    what = 'machine action'
    get_api = 'get_action'
    list_api = 'list_actions'
    not_found_hint = 'No machine action has this ID in the tenant; check id'

    def __init__(self, client, sleep=time.sleep, clock=time.monotonic):
        super(MachineActions, self).__init__(client)
        self.sleep = sleep
        self.clock = clock

    def cancellable(self, machine_id=None, types=None):
        """The non-final actions (of ``types``) on a machine."""
        found = self.list(build_filter(machine_id=machine_id, statuses=NON_FINAL_STATUSES, types=types))
        return [a for a in found if not is_final(a.get('status'))]

    def cancel(self, action, comment):
        """Cancel a non-final action. Returns (action after the call, changed).

        A cancel that the API refuses because the action meanwhile turned final is not a
        failure: the action is looked up again and returned with changed=False (unless it
        is Cancelled with our comment: then a retried cancel of ours got through).
        """
        action_id = action['id']
        try:
            dummy, after = self.client.request('POST', '/api/machineactions/%s/cancel' % action_id, 'cancel_action',
                                               body={'Comment': comment}, call='idempotent_write')
        except MdeError as err:
            if err.status is None or not 400 <= err.status < 500 or err.status in (401, 403, 404, 429):
                raise
            current = self.get(action_id)
            if not is_final(current.get('status')):
                raise
            ours = is_cancelled(current.get('status')) and current.get('cancellationComment') == comment
            return current, ours
        if not isinstance(after, dict) or 'status' not in after:
            after = self.get(action_id)
        return after, True

    def cancel_all(self, run, comment, check_mode, wait=False, wait_timeout=None, poll_interval=None):
        """Cancel every non-final action of ``run`` (a ``CancelRun``), recording each outcome in it as it goes
        (so a failure half-way leaves what was done in ``run``); with ``wait``, each cancel is waited for."""
        for action in run.targets:
            if is_final(action.get('status')):
                run.results.append((action, False))
                continue
            if check_mode:
                run.after[action['id']] = 'Cancelled'
                run.results.append((action, True))
                run.changed = True
                continue
            current, cancelled = self.cancel(action, comment)
            if wait:
                current = self.wait(current, wait_timeout, poll_interval)
                cancelled = cancelled and is_cancelled(current.get('status'))
            run.after[action['id']] = current.get('status')
            run.results.append((current, cancelled))
            run.changed = run.changed or cancelled
        return run

    def wait(self, action, timeout, interval):
        """Poll until the action is final; fail after ``timeout`` seconds with the action in the result."""
        return wait_final(self.get, action, timeout, interval, is_final, to_result, self.sleep, self.clock,
                          pending_note=lambda current, waited: machine_seen_note(self.client, current.get('machineId'), waited))


class CancelRun:
    """The actions a cancel task targets and what happened to each: ``results`` (action, cancelled),
    their statuses ``before`` and ``after``, ``changed``."""

    def __init__(self, targets):
        self.targets = targets
        self.before = dict((a['id'], a.get('status')) for a in targets)
        self.after = dict(self.before)
        self.results = []
        self.changed = False

    def cancelled(self):
        return [to_result(a) for a, was_cancelled in self.results if was_cancelled]
