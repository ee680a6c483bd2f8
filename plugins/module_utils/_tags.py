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

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
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
        """Send the tag change; returns the updated Machine. A lost answer is checked by reading the machine again."""
        machine_id = machine['id'].lower()
        body = {'Value': tag, 'Action': 'Add' if present else 'Remove'}
        try:
            dummy_status, updated = self.client.request('POST', '/api/machines/%s/tags' % machine_id, TAGS_API, body=body)
        except MdeError as err:
            if not err.maybe_sent:
                raise
            updated = self.machines.get(machine_id)
            if (tag in tags_of(updated)) != present:
                raise
        if not isinstance(updated, dict) or not updated.get('id'):
            updated = self.machines.get(machine_id)
        return updated
