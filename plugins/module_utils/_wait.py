# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Waiting for a machine action to end: polling under ``wait_timeout``, through the injected clock and sleep."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from datetime import datetime, timedelta, timezone

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils._machine import Machines


def _utc(value):
    """An API timestamp (2025-05-14T08:00:00.1234567Z, UTC) as a naive UTC datetime, or None."""
    try:
        return datetime.strptime((value or '')[:19], '%Y-%m-%dT%H:%M:%S')
    except ValueError:
        return None


def _utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def machine_seen_note(client, machine_id, waited, now=_utcnow):
    """What to add when a wait on a queued (Pending) action runs out: one look-up of the machine, made only then;
    when it has not been seen within the ``waited`` seconds, its last-seen time and health. '' otherwise, and when
    the machine cannot be looked up (the timeout stays the failure)."""
    if not machine_id:
        return ''
    try:
        machine = Machines(client).find(machine_id)
    except MdeError:
        return ''
    if not machine:
        return ''
    seen = _utc(machine.get('lastSeen'))
    if seen is not None and seen >= now() - timedelta(seconds=waited):
        return ''
    return (' The machine %s has not been seen during the wait: lastSeen %s, healthStatus %s; it picks the action up '
            'when it next connects to MDE.' % (machine_id, machine.get('lastSeen') or 'never', machine.get('healthStatus')))


def timeout_message(current, timeout, note=''):
    if (current.get('status') or '').lower() == 'pending':
        return ('Machine action %s is still queued (Pending) after wait_timeout=%s s: the machine has not started it.%s '
                'It stays queued on the server; raise wait_timeout or look it up later with '
                'defender.endpoint.mde_machine_action_info.' % (current.get('id'), timeout, note))
    return ('Machine action %s is still %s after wait_timeout=%s s. It is still running on the server; '
            'raise wait_timeout or look it up later with defender.endpoint.mde_machine_action_info.'
            % (current.get('id'), current.get('status'), timeout))


def wait_final(get, action, timeout, interval, is_final, result, sleep, clock, pending_note=None):
    """Poll ``get(id)`` every ``interval`` seconds until ``is_final(status)``; after ``timeout`` seconds fail
    with the action (``result(action)``) in the failure. Returns the final action. ``pending_note(action, waited)``,
    called only when the wait runs out on a Pending action, adds to the message (the machine's last-seen time)."""
    deadline = clock() + timeout
    current = action
    while not is_final(current.get('status')):
        remaining = deadline - clock()
        if remaining <= 0:
            note = ''
            if pending_note is not None and (current.get('status') or '').lower() == 'pending':
                note = pending_note(current, timeout)
            raise MdeError(timeout_message(current, timeout, note), kind='timeout', details={'machine_action': result(current)})
        sleep(min(interval, remaining))
        current = get(current['id'])
    return current
