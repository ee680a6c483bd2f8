# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Machine tags: read a machine's ``machineTags`` and add or remove one tag with
``POST /api/machines/{id}/tags`` (mde_machine_tag)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.defender.endpoint.plugins.module_utils._entities import checked_entity
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error, join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils._retry import RetryableError, retry_loop
from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma

# The tags call is one of the machines APIs (mde-api.md 13.1): 100 calls a minute, 1500 an hour.
TAGS_API = 'machine_tags'
MAX_TAG_LENGTH = 200


def check_tag(value):
    if value is None or not value.strip():
        raise config_error('tag must not be empty: give the tag to add or remove, for example INC-4711.')
    if len(value) > MAX_TAG_LENGTH:
        raise config_error('tag must be at most %d characters long; got %d.' % (MAX_TAG_LENGTH, len(value)))
    return value


def check_machine(machine_id, computer_dns_name):
    """Bad input fails before any request; returns (machine_id, computer_dns_name) normalised."""
    if machine_id:
        return ma.check_machine_id(machine_id), None
    return None, _machine.check_computer_dns_name(computer_dns_name)


def tags_of(machine):
    return list(machine.get('machineTags') or [])


def case_variants(tags, tag):
    """Tags that differ from ``tag`` only in letter case."""
    return [t for t in tags if t != tag and t.lower() == tag.lower()]


def wanted_tags(tags, tag, present):
    if present:
        return tags if tag in tags else tags + [tag]
    return [t for t in tags if t != tag]


class MachineTags:
    """One machine's tags; ``client`` is an ``_http.MdeClient``."""

    def __init__(self, client):
        self.client = client
        self.machines = _machine.Machines(client)

    def machine(self, machine_id=None, computer_dns_name=None):
        """The Machine entity, resolved by ID or by name as the launching modules do."""
        resolved = self.machines.resolve(machine_id=machine_id, computer_dns_name=computer_dns_name)
        return self.machines.get(resolved)

    def change(self, machine, tag, present):
        """Send the tag change; returns the updated Machine.

        The POST is not sent again blindly once it may have reached the server (a 5xx, a read timeout, a
        broken connection): the machine is read back first. Its tags say whether the change was applied
        (then that is the answer, with one POST); if not, sending it again is safe, since Add and Remove
        set the tag whatever it was, and it is sent again under the one retry policy (``_retry``:
        max_retries, max_wait, the waits of the whole change bounded together).
        """
        machine_id = machine['id'].lower()
        path = '/api/machines/%s/tags' % machine_id
        body = {'Value': tag, 'Action': 'Add' if present else 'Remove'}
        waits = self.client.call_waits()

        def attempt(dummy_retry):
            try:
                dummy_status, answer = self.client.request('POST', path, TAGS_API, body=body, call='launch', waits=waits,
                                                           not_found_hint=self.machines.not_found_hint)
            except MdeError as err:
                if not err.maybe_sent:
                    raise
                current = self._read_back(machine_id, err)
                if (tag in tags_of(current)) == present:
                    return current
                raise RetryableError(MdeError(join_sentences(err.msg, 'The machine\'s tags, read back, show the change was not applied.'),
                                              kind=err.kind, status=err.status, error_code=err.error_code,
                                              error_message=err.error_message, correlation_id=err.correlation_id))
            if isinstance(answer, dict) and isinstance(answer.get('id'), str) and answer['id'].lower() == machine_id:
                return answer
            # a 200 that is not this machine (a proxy, another service): the machine read back is the truth
            current = self._read_back(machine_id)
            if (tag in tags_of(current)) == present:
                return current
            checked_entity(answer, 'POST %s' % path, machine_id, what='machine')  # raises: names api_url
            return current

        return retry_loop(attempt, self.client.settings.max_retries, self.client.settings.max_wait, self.client.sleep, waits=waits)

    def _read_back(self, machine_id, err=None):
        try:
            return self.machines.get(machine_id)
        except MdeError as read_err:
            if err is None:
                raise
            raise MdeError(join_sentences(err.msg, 'Whether the tag was changed could not be checked either: reading the machine back '
                                                   'failed (%s). Run the task again: it changes the tags only if they are not as wanted.'
                                          % read_err.msg.rstrip('.')), kind=err.kind, status=err.status)
