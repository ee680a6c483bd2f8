# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The service below the inventory plugin ``defender.endpoint.mde_machines``: its filters checked and turned into
one ``$filter``, the machines and (with ``isolation_state``) the actions that give each machine's isolation and
app-restriction state fetched through the shared client, and the hosts (names, variables, groups) made from them.

Everything is fetched before any host is made: an error while paging fails the whole inventory.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re
import time

from ansible_collections.defender.endpoint.plugins.module_utils._entities import any_of, entity_result, odata_string
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error, join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma

CACHE_FORMAT = 1
STATE_TYPES = ['Isolate', 'Unisolate', 'RestrictCodeExecution', 'UnrestrictCodeExecution']
ISOLATED_GROUP = 'mde_isolated'
RESTRICTED_GROUP = 'mde_restricted'
# the states that put a machine in mde_isolated / mde_restricted: those the state modules take for isolated /
# restricted (the newest action of the pair is an Isolate / RestrictCodeExecution that did not fail)
ISOLATED_STATES = ('isolated', 'isolating')
RESTRICTED_STATES = ('restricted', 'restricting')
DEFAULT_HOSTNAMES = ['computer_dns_name', 'id']

PERMISSION_HINT = ('The inventory needs the WindowsDefenderATP application permission Machine.Read.All (or Machine.ReadWrite.All) '
                   'with admin consent: it lists machines (GET /api/machines) and, with isolation_state, machine actions '
                   '(GET /api/machineactions).')

# filter name: (machine property, documented values or None, sent as $filter)
FILTERS = {
    'health_status': ('healthStatus', _machine.HEALTH_STATUSES, True),
    'os_platform': ('osPlatform', None, True),
    'machine_tags': ('machineTags', None, True),
    'rbac_group_id': ('rbacGroupId', None, False),  # its literal type (number or string) is unconfirmed: checked here only
    'exposure_level': ('exposureLevel', _machine.EXPOSURE_LEVELS, True),
    'risk_score': ('riskScore', _machine.RISK_SCORES, True),
    'onboarding_status': ('onboardingStatus', None, True),
    'last_seen_after': ('lastSeen', None, True),
    'computer_dns_name': ('computerDnsName', None, True),
}
_TOKEN = re.compile(r'^[A-Za-z0-9_.\-]+$')
_RELATIVE = re.compile(r'^\s*(\d+)\s*([smhdw])\s*$', re.I)
_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}
_CAMEL = re.compile(r'(?<=[a-z0-9])([A-Z])')


def _as_list(name, value):
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if isinstance(item, (datetime.date, datetime.datetime)):
            item = item.isoformat()  # YAML reads an unquoted 2025-05-01 as a date
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
            raise config_error('filters.%s must be a value or a list of values (strings), not %r.' % (name, value))
        out.append(str(item).strip())
    if not out:
        raise config_error('filters.%s must not be an empty list: leave it out to take every machine.' % name)
    return out


def last_seen_literal(value, now):
    """``last_seen_after``: an ISO 8601 date or date-time, or a time before now such as 7d, 12h, 30m (s, m, h, d, w)."""
    match = _RELATIVE.match(value)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - seconds))
    try:
        return ma.parse_timestamp(value, 'filters.last_seen_after')
    except MdeError as err:
        raise config_error(join_sentences(err.msg, 'A time before now works too: 7d, 12h or 30m'))


def check_filters(filters, now=None):
    """The ``filters`` option, checked before any request: a dict of filter name to a list of values."""
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise config_error('filters must be a mapping of filter names (%s) to a value or a list of values.' % ', '.join(sorted(FILTERS)))
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise config_error('Unknown filter(s) %s: filters takes %s.' % (', '.join(unknown), ', '.join(sorted(FILTERS))))
    checked = {}
    for name, value in filters.items():
        if value is None:
            continue
        values = _as_list(name, value)
        documented = FILTERS[name][1]
        if documented is not None:
            spelled = dict((v.lower(), v) for v in documented)
            bad = [v for v in values if v.lower() not in spelled]
            if bad:
                raise config_error('filters.%s takes %s; got %s.' % (name, ', '.join(documented), ', '.join(bad)))
            values = [spelled[v.lower()] for v in values]
        elif name == 'last_seen_after':
            if len(values) != 1:
                raise config_error('filters.last_seen_after takes one time, not a list.')
            values = [last_seen_literal(values[0], time.time() if now is None else now)]
        elif name == 'computer_dns_name':
            for v in values:
                if not re.match(r'^[A-Za-z0-9][A-Za-z0-9._\-]{0,254}$', v):
                    raise config_error('filters.computer_dns_name takes the start of machine names, such as web- or '
                                       'web-prod-01.contoso.com; got "%s".' % v)
            values = [v.lower() for v in values]
        elif name in ('os_platform', 'onboarding_status', 'rbac_group_id'):
            for v in values:
                if not _TOKEN.match(v):
                    raise config_error('filters.%s takes MDE values such as %s; got "%s".' % (
                        name, {'os_platform': 'Windows11 or Linux', 'onboarding_status': 'Onboarded',
                               'rbac_group_id': '140'}[name], v))
        checked[name] = values
    return checked


def build_filter(checked):
    """The ``$filter`` of the machines list for checked filters (None: every machine). ``rbac_group_id`` is
    applied by ``matches`` only."""
    terms = []
    for name in sorted(checked):
        prop, dummy, server_side = FILTERS[name]
        values = checked[name]
        if not server_side:
            continue
        if name == 'machine_tags':
            tags = ['machineTags/any(tag: tag eq %s)' % odata_string(v) for v in values]
            terms.append(tags[0] if len(tags) == 1 else '(%s)' % ' or '.join(tags))
        elif name == 'last_seen_after':
            terms.append('lastSeen ge %s' % values[0])
        elif name == 'computer_dns_name':
            starts = ['startswith(computerDnsName,%s)' % odata_string(v) for v in values]
            terms.append(starts[0] if len(starts) == 1 else '(%s)' % ' or '.join(starts))
        else:
            terms.append(any_of(prop, values))
    return ' and '.join(terms) or None


def matches(machine, checked):
    """Whether a listed machine meets every filter, checked again here: the API's case rules are not documented,
    and ``rbac_group_id`` is only checked here."""
    for name, values in checked.items():
        prop = FILTERS[name][0]
        value = machine.get(prop)
        wanted = [v.lower() for v in values]
        if name == 'machine_tags':
            tags = [str(t).lower() for t in (value or [])]
            if not any(w in tags for w in wanted):
                return False
        elif name == 'last_seen_after':
            seen = _launch._parse_epoch(value)  # pylint: disable=protected-access
            limit = _launch._parse_epoch(values[0])  # pylint: disable=protected-access
            if seen is not None and seen < limit:
                return False
        elif name == 'computer_dns_name':
            if not any(str(value or '').lower().startswith(w) for w in wanted):
                return False
        elif str(value if value is not None else '').lower() not in wanted:
            return False
    return True


def check_hostnames(hostnames):
    if hostnames is None:
        return list(DEFAULT_HOSTNAMES)
    if not isinstance(hostnames, list) or not hostnames or not all(isinstance(h, str) and h.strip() for h in hostnames):
        raise config_error('hostnames must be a non-empty list of machine properties, such as [computer_dns_name, id].')
    return [_CAMEL.sub(r'_\1', h.strip()).lower() for h in hostnames]


def check_prefix(prefix):
    if prefix is None:
        return 'mde_'
    if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$|^$', prefix):
        raise config_error('hostvars_prefix must be empty or start a valid variable name (letters, digits, _), such as mde_; '
                           'got "%s".' % prefix)
    return prefix


def fetch(client, checked, isolation_state):
    """What the inventory is made of, fetched in full: ``{'format', 'machines', 'actions'}`` (``actions`` None
    without ``isolation_state``). Raises MdeError; nothing partial is returned."""
    try:
        machines = _machine.Machines(client).list(build_filter(checked))
        actions = None
        if isolation_state:
            actions = ma.MachineActions(client).list(ma.build_filter(types=STATE_TYPES, statuses=_launch.ACTIVE_STATUSES))
    except MdeError as err:
        if err.status == 403:
            err.msg = join_sentences(err.msg, PERMISSION_HINT)
            err.args = (err.msg,)
        raise
    return {'format': CACHE_FORMAT, 'machines': machines, 'actions': actions}


def usable_cache(data, isolation_state):
    return (isinstance(data, dict) and data.get('format') == CACHE_FORMAT and isinstance(data.get('machines'), list)
            and (not isolation_state or isinstance(data.get('actions'), list)))


def _seen(machine):
    return _launch._parse_epoch(machine.get('lastSeen')) or 0  # pylint: disable=protected-access


def _name_of(result, hostnames):
    for prop in hostnames:
        value = result.get(prop)
        if value is not None and not isinstance(value, (dict, list, bool)) and str(value).strip():
            return str(value).strip()
    return result['id']


class Host:
    """One inventory host: ``name``, ``variables`` and ``groups``."""

    def __init__(self, name, variables, groups):
        self.name = name
        self.variables = variables
        self.groups = groups


def hosts(data, checked, hostnames, prefix, isolation_state):
    """The hosts of fetched ``data``, in the order the API listed the machines (one host per machine ID)."""
    machines, seen_ids = [], set()
    for machine in data['machines']:
        machine_id = (machine.get('id') or '') if isinstance(machine, dict) else ''
        if not machine_id or machine_id.lower() in seen_ids or not matches(machine, checked):
            continue  # pages may overlap when machines come and go while paging
        seen_ids.add(machine_id.lower())
        machines.append(machine)

    per_machine = {}
    for action in data.get('actions') or []:
        per_machine.setdefault((action.get('machineId') or '').lower(), []).append(action)

    results = [entity_result(m) for m in machines]
    names = [_name_of(r, hostnames) for r in results]
    by_name = {}
    for index, name in enumerate(names):
        by_name.setdefault(name.lower(), []).append(index)
    duplicates = {}
    for indexes in by_name.values():
        if len(indexes) < 2:
            continue
        ranked = sorted(indexes, key=lambda i: (-_seen(machines[i]), machines[i]['id'].lower()))
        for position, index in enumerate(ranked):
            if position:
                names[index] = machines[index]['id']
            duplicates[index] = [machines[i]['id'] for i in ranked if i != index]

    out = []
    for index, result in enumerate(results):
        variables = dict((prefix + key, value) for key, value in result.items())
        variables[prefix + 'machine_id'] = result['id']
        variables['mde_machine_id'] = result['id']  # the roles read this name
        groups = []
        if index in duplicates:
            variables[prefix + 'duplicate_of'] = duplicates[index]
        if isolation_state:
            history = per_machine.get(result['id'].lower(), [])
            isolation = _launch.state_of(history, 'isolation')[0]
            restriction = _launch.state_of(history, 'app_restriction')[0]
            variables[prefix + 'isolation'] = isolation
            variables[prefix + 'app_restriction'] = restriction
            if isolation in ISOLATED_STATES:
                groups.append(ISOLATED_GROUP)
            if restriction in RESTRICTED_STATES:
                groups.append(RESTRICTED_GROUP)
        out.append(Host(names[index], variables, groups))
    return out
