# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""What every entity set of the API (machine actions, machines) shares: get, find and list over an
``MdeClient``, answers checked to be the entity asked for, and the snake_case return shape."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError


def odata_string(value):
    return "'%s'" % value.replace("'", "''")


def any_of(prop, values):
    """An OData ``or`` chain (``in`` is not documented), in parentheses when it has several terms."""
    terms = ['%s eq %s' % (prop, odata_string(v)) for v in values]
    return terms[0] if len(terms) == 1 else '(%s)' % ' or '.join(terms)


def entity_result(entity, renames=None):
    """The return shape of the modules: snake_case keys, values untouched, no @odata keys; ``renames`` maps
    an alternative spelling of the API to the documented one (kept when both exist)."""
    if not isinstance(entity, dict):
        return entity
    data = dict((k, v) for k, v in entity.items() if not k.startswith('@odata'))
    for alternative, documented in (renames or {}).items():
        if alternative in data and documented not in data:
            data[documented] = data.pop(alternative)
    return camel_dict_to_snake_dict(data)


def checked_entity(entity, call, entity_id=None, what='machine action'):
    """Refuse an answer that is not the entity asked for (a proxy or another service at api_url): acting on it could
    cancel the wrong action or report made-up data."""
    if isinstance(entity, dict) and isinstance(entity.get('id'), str) and (entity_id is None or entity['id'].lower() == entity_id.lower()):
        return entity
    shape = 'keys %s' % ', '.join(sorted(str(k) for k in entity)[:8]) if isinstance(entity, dict) else 'a %s' % type(entity).__name__
    raise MdeError('MDE API %s answered with JSON that is not the expected %s (unexpected shape: %s). A proxy or '
                   'another service may be answering: check api_url (MDE_API_URL) and the network path.' % (call, what, shape), kind='api')


class EntitySet:
    """get / find / list of one entity set. Subclasses set ``path`` (``/api/machineactions``), ``what``
    (for messages), the rate-limit API names ``get_api`` and ``list_api``, the ``not_found_hint`` of a
    get, ``check_listed`` (each listed entity checked) and ``empty_on_404`` (a 404 list reads as none)."""

    path = None
    what = None
    get_api = None
    list_api = None
    not_found_hint = None
    check_listed = True
    empty_on_404 = False

    def __init__(self, client):
        self.client = client

    def get(self, entity_id):
        path = '%s/%s' % (self.path, entity_id)
        entity = self.client.get(path, self.get_api, not_found_hint=self.not_found_hint)
        return checked_entity(entity, 'GET %s' % path, entity_id, what=self.what)

    def find(self, entity_id):
        """The entity, or None when the API answers 404."""
        try:
            return self.get(entity_id)
        except MdeError as err:
            if err.status == 404:
                return None
            raise

    def list(self, odata_filter=None):
        params = {'$filter': odata_filter} if odata_filter else {}
        try:
            found = self.client.list_all(self.path, self.list_api, params)
        except MdeError as err:
            if self.empty_on_404 and err.status == 404 and err.error_code in (None, 'NotFound', 'ResourceNotFound'):
                return []
            raise
        if not self.check_listed:
            return found
        return [checked_entity(e, 'GET %s' % self.path, what=self.what) for e in found]
