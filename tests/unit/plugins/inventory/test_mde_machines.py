# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inventory plugin defender.endpoint.mde_machines with a fake get_option (as amazon.aws tests aws_ec2) and
the real MdeClient over a scripted HTTP session: hosts, names, duplicates, isolation state, filters, paging, the
cache, errors; and that its connection options are the modules' (names, types, defaults, environment)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import fragment_loader
from ansible.template import Templar
from ansible.utils.plugin_docs import get_docstring

from ansible_collections.defender.endpoint.plugins.inventory import mde_machines
from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _inventory
from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils._connection import CONNECTION_ARGSPEC
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeClock, FakeSession, FakeTokens, error_body, make_response, make_settings,
)

try:
    from ansible.template import trust_as_template as trusted
except ImportError:  # ansible-core < 2.19: every string is a template
    def trusted(value):
        return value

PLUGIN_FILE = mde_machines.__file__.replace('.pyc', '.py')


def machine(name, machine_id, last_seen='2026-11-27T08:00:00.0000000Z', **extra):
    data = {'id': machine_id, 'computerDnsName': name, 'lastSeen': last_seen, 'osPlatform': 'Windows11',
            'healthStatus': 'Active', 'rbacGroupId': 140, 'rbacGroupName': 'Finance', 'machineTags': ['finance'],
            'lastIpAddress': '10.0.0.1', 'vmMetadata': {'cloudProvider': 'Azure', 'subscriptionId': 's-1'}}
    data.update(extra)
    return data


def act(machine_id, kind, status, created):
    return {'id': 'a-%s-%s-%s' % (machine_id, kind, created), 'machineId': machine_id, 'type': kind, 'status': status,
            'creationDateTimeUtc': '2026-11-%02dT08:00:00Z' % created}


def page(items, next_link=None):
    body = {'@odata.context': API_URL + '/api/$metadata#Machines', 'value': items}
    if next_link:
        body['@odata.nextLink'] = next_link
    return make_response(200, body)


class Plugin:
    """The plugin with a fake get_option, a dict as its cache and the real MdeClient over ``script``."""

    def __init__(self, tmp_path, script, config=None, cache=None):
        self.options = {'plugin': 'defender.endpoint.mde_machines', 'filters': {}, 'hostnames': ['computer_dns_name', 'id'],
                        'hostvars_prefix': 'mde_', 'isolation_state': False, 'compose': {}, 'groups': {},
                        'keyed_groups': [], 'strict': False, 'cache': False, 'use_extra_vars': False,
                        'leading_separator': True}
        self.options.update(config or {})
        self.session = FakeSession(script)
        self.client = _http.MdeClient(make_settings(max_retries=0), self.session, FakeTokens(), sleep=FakeClock().sleep,
                                      budget_folder=str(tmp_path))
        self.warnings = []
        self.cache = {} if cache is None else cache
        plugin = mde_machines.InventoryModule()
        plugin._read_config_data = lambda path: dict(self.options)
        plugin.get_option = lambda name: self.options.get(name, CONNECTION_ARGSPEC.get(name, {}).get('default'))
        plugin.connect_client = lambda connection: self.client
        plugin._cache = self.cache
        plugin.display = type('Display', (), {'warning': lambda _self, msg: self.warnings.append(msg)})()
        self.plugin = plugin
        self.inventory = InventoryData()

    def parse(self, cache=True):
        self.plugin.parse(self.inventory, DataLoader(), '/x/test.mde_machines.yml', cache=cache)
        return self.inventory

    def hostvars(self, name):
        return self.inventory.get_host(name).get_vars()

    def group(self, name):
        return sorted(h.name for h in self.inventory.groups[name].get_hosts())

    def queries(self):
        out = []
        for dummy, url, dummy2 in self.session.calls:
            parts = urlsplit(url)
            out.append((parts.path, dict((k, v[0]) for k, v in parse_qs(parts.query).items())))
        return out


@pytest.fixture(autouse=True)
def _credentials(monkeypatch, tmp_path):
    for name, spec in CONNECTION_ARGSPEC.items():
        for env in (spec.get('fallback') or (None, []))[1]:
            monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv('MDE_ACCESS_TOKEN', 'header.payload.signature')
    monkeypatch.setenv('MDE_TENANT_ID', 'tenant-a')
    monkeypatch.setenv('MDE_CLIENT_ID', 'client-a')
    monkeypatch.setenv('MDE_API_URL', API_URL)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))


WEB = 'a' * 40
WEB_OLD = 'b' * 40
WEB_OLDEST = 'c' * 40
DB = 'd' * 40
NONAME = 'e' * 40
FLEET = [
    machine('web-01.contoso.com', WEB, '2026-11-28T08:00:00Z'),
    machine('WEB-01.contoso.com', WEB_OLD, '2026-10-01T08:00:00Z', healthStatus='Inactive'),
    machine('web-01.contoso.com', WEB_OLDEST, '2026-06-01T08:00:00Z', healthStatus='Inactive'),
    machine('db-02', DB, osPlatform='Linux', machineTags=[], rbacGroupId=141),
    machine(None, NONAME, onboardingStatus='CanBeOnboarded'),
]


def test_hosts_named_by_preference_duplicates_keep_the_newest_and_point_at_each_other(tmp_path):
    p = Plugin(tmp_path, [page(FLEET)])
    inventory = p.parse()
    assert sorted(inventory.hosts) == sorted(['web-01.contoso.com', WEB_OLD, WEB_OLDEST, 'db-02', NONAME])
    assert p.hostvars('web-01.contoso.com')['mde_duplicate_of'] == [WEB_OLD, WEB_OLDEST]
    assert p.hostvars(WEB_OLD)['mde_duplicate_of'] == [WEB, WEB_OLDEST]
    assert p.hostvars(WEB_OLDEST)['mde_computer_dns_name'] == 'web-01.contoso.com'
    assert 'mde_duplicate_of' not in p.hostvars('db-02')
    web = p.hostvars('web-01.contoso.com')
    assert web['mde_machine_id'] == web['mde_id'] == WEB
    assert web['mde_vm_metadata'] == {'cloud_provider': 'Azure', 'subscription_id': 's-1'}
    assert web['mde_rbac_group_name'] == 'Finance' and web['mde_last_ip_address'] == '10.0.0.1'
    assert 'ansible_host' not in web and 'mde_isolation' not in web
    assert 'mde_isolated' not in inventory.groups
    assert [q[0] for q in p.queries()] == ['/api/machines'], 'isolation_state false makes no machine-actions call'


def test_hostnames_and_prefix_options(tmp_path):
    p = Plugin(tmp_path, [page(FLEET[3:4])], {'hostnames': ['lastIpAddress'], 'hostvars_prefix': 'defender_'})
    p.parse()
    variables = p.hostvars('10.0.0.1')
    assert variables['defender_os_platform'] == 'Linux'
    assert variables['defender_machine_id'] == variables['mde_machine_id'] == DB


def test_isolation_state_of_every_case_in_one_actions_call(tmp_path):
    machines = [machine('m%d' % i, ('%d' % i) * 40) for i in range(1, 9)]
    actions = [
        act('1' * 40, 'Isolate', 'Succeeded', 2),                                                    # isolated
        act('2' * 40, 'Isolate', 'Succeeded', 2), act('2' * 40, 'Unisolate', 'Succeeded', 3),        # released
        act('3' * 40, 'Isolate', 'Pending', 4),                                                      # isolating
        act('4' * 40, 'Isolate', 'Succeeded', 2), act('4' * 40, 'Unisolate', 'InProgress', 5),       # releasing
        act('5' * 40, 'Isolate', 'Succeeded', 2), act('5' * 40, 'Unisolate', 'Failed', 6),           # isolated
        act('6' * 40, 'Isolate', 'Cancelled', 6), act('6' * 40, 'Isolate', 'TimeOut', 2),            # unknown
        act('7' * 40, 'RestrictCodeExecution', 'Succeeded', 3),                                      # restricted
        act('8' * 40, 'RestrictCodeExecution', 'Succeeded', 3), act('8' * 40, 'UnrestrictCodeExecution', 'Pending', 4),
        act('f' * 40, 'Isolate', 'Succeeded', 2),                                                    # not listed
    ]
    p = Plugin(tmp_path, [page(machines), page(actions)], {'isolation_state': True})
    inventory = p.parse()
    got = dict((h, (p.hostvars(h)['mde_isolation'], p.hostvars(h)['mde_app_restriction'])) for h in sorted(inventory.hosts))
    assert got == {'m1': ('isolated', 'unknown'), 'm2': ('released', 'unknown'), 'm3': ('isolating', 'unknown'),
                   'm4': ('releasing', 'unknown'), 'm5': ('isolated', 'unknown'), 'm6': ('unknown', 'unknown'),
                   'm7': ('unknown', 'restricted'), 'm8': ('unknown', 'unrestricting')}
    assert p.group('mde_isolated') == ['m1', 'm3', 'm5']
    assert p.group('mde_restricted') == ['m7']
    (path1, q1), (path2, q2) = p.queries()
    assert path2 == '/api/machineactions' and q2['$top'] == '10000'
    assert q2['$filter'] == ("(status eq 'Pending' or status eq 'InProgress' or status eq 'Succeeded') and (type eq 'Isolate' or "
                             "type eq 'Unisolate' or type eq 'RestrictCodeExecution' or type eq 'UnrestrictCodeExecution')")


def test_the_module_rule_and_the_inventory_rule_are_one_function():
    history = [act('1' * 40, 'Isolate', 'Succeeded', 2), act('1' * 40, 'Unisolate', 'Failed', 3)]
    current = _launch.current_state_action(history, _launch.isolation('released', 'full').types)
    assert current['type'] == 'Isolate'
    assert _launch.state_of(history, 'isolation') == ('isolated', current)
    assert _launch.state_of([], 'app_restriction') == ('unknown', None)


def test_groups_created_empty_with_isolation_state(tmp_path):
    p = Plugin(tmp_path, [page(FLEET[3:4]), page([])], {'isolation_state': True})
    inventory = p.parse()
    assert inventory.groups['mde_isolated'].get_hosts() == []


def test_constructed_keyed_groups_compose_and_groups(tmp_path):
    # expressions from a configuration file are trusted templates; the fake get_option must say so too
    p = Plugin(tmp_path, [page(FLEET)], {'keyed_groups': [{'key': trusted('mde_os_platform'), 'prefix': 'os'},
                                                          {'key': trusted('mde_machine_tags'), 'prefix': 'tag'}],
                                         'compose': {'ansible_host': trusted('mde_last_ip_address')},
                                         'groups': {'stale': trusted("mde_health_status != 'Active'")}, 'strict': True})
    p.parse()
    assert p.group('os_Linux') == ['db-02']
    assert 'web-01.contoso.com' in p.group('tag_finance')
    assert p.group('stale') == sorted([WEB_OLD, WEB_OLDEST])
    assert p.hostvars('db-02')['ansible_host'] == '10.0.0.1'


def test_filters_become_one_documented_filter_and_are_checked_again(tmp_path):
    filters = {'health_status': ['active', 'Inactive'], 'os_platform': 'Windows11', 'machine_tags': ['finance', 'hr'],
               'rbac_group_id': 140, 'computer_dns_name': 'WEB-', 'last_seen_after': '2026-07-01', 'exposure_level': 'high',
               'risk_score': 'Medium', 'onboarding_status': 'Onboarded'}
    listed = [machine('web-01.contoso.com', WEB, exposureLevel='High', riskScore='Medium', onboardingStatus='onboarded'),
              machine('web-02.contoso.com', WEB_OLD, exposureLevel='High', riskScore='Medium', onboardingStatus='Onboarded',
                      rbacGroupId=141),
              machine('web-03.contoso.com', WEB_OLDEST, exposureLevel='High', riskScore='Medium', onboardingStatus='Onboarded',
                      lastSeen='2026-06-01T08:00:00Z')]
    p = Plugin(tmp_path, [page(listed)], {'filters': filters})
    inventory = p.parse()
    assert sorted(inventory.hosts) == ['web-01.contoso.com'], 'rbac_group_id and last_seen_after checked on the listed machines'
    query = p.queries()[0][1]['$filter']
    assert query == ("startswith(computerDnsName,'web-') and exposureLevel eq 'High' and "
                     "(healthStatus eq 'Active' or healthStatus eq 'Inactive') and lastSeen ge 2026-07-01T00:00:00Z and "
                     "(machineTags/any(tag: tag eq 'finance') or machineTags/any(tag: tag eq 'hr')) and "
                     "onboardingStatus eq 'Onboarded' and osPlatform eq 'Windows11' and riskScore eq 'Medium'")
    assert 'rbacGroupId' not in query


def test_last_seen_after_as_yaml_reads_it():
    when = datetime.datetime(2025, 5, 1, 8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert _inventory.check_filters({'last_seen_after': when}) == {'last_seen_after': ['2025-05-01T06:00:00Z']}
    assert _inventory.check_filters({'last_seen_after': datetime.date(2025, 5, 1)}) == {'last_seen_after': ['2025-05-01T00:00:00Z']}


def test_last_seen_after_relative():
    now = 1764662400.0  # 2025-12-02T08:00:00Z
    assert _inventory.check_filters({'last_seen_after': '7d'}, now=now) == {'last_seen_after': ['2025-11-25T08:00:00Z']}
    assert _inventory.check_filters({'last_seen_after': '12h'}, now=now) == {'last_seen_after': ['2025-12-01T20:00:00Z']}


@pytest.mark.parametrize('config, message', [
    ({'filters': {'health': 'Active'}}, 'Unknown filter(s) health: filters takes computer_dns_name, exposure_level'),
    ({'filters': {'health_status': 'Healthy'}}, 'filters.health_status takes Active, Inactive'),
    ({'filters': {'risk_score': []}}, 'filters.risk_score must not be an empty list'),
    ({'filters': {'last_seen_after': 'last week'}}, 'filters.last_seen_after must be an ISO 8601 date or date-time'),
    ({'filters': {'last_seen_after': ['7d', '8d']}}, 'filters.last_seen_after takes one time'),
    ({'filters': {'computer_dns_name': "web' or 1"}}, 'filters.computer_dns_name takes the start of machine names'),
    ({'filters': {'os_platform': [{'a': 1}]}}, 'filters.os_platform must be a value or a list of values'),
    ({'filters': ['health_status']}, 'filters must be a mapping'),
    ({'hostnames': []}, 'hostnames must be a non-empty list'),
    ({'hostvars_prefix': 'mde-'}, 'hostvars_prefix must be empty or start a valid variable name'),
    ({'api_url': 'http://api.mde.test'}, 'api_url (MDE_API_URL) must be an https:// URL'),
    ({'cloud': 'moon'}, 'cloud'),
    ({'timeout': 'soon'}, 'timeout'),
])
def test_bad_input_fails_before_any_request(tmp_path, config, message):
    p = Plugin(tmp_path, [], config)
    with pytest.raises(AnsibleParserError) as info:
        p.parse()
    assert message in str(info.value)
    assert p.session.calls == []


def test_no_credentials_fails_naming_them(tmp_path, monkeypatch):
    monkeypatch.delenv('MDE_ACCESS_TOKEN')
    p = Plugin(tmp_path, [])
    with pytest.raises(AnsibleParserError) as info:
        p.parse()
    assert 'No credentials: set access_token (MDE_ACCESS_TOKEN)' in str(info.value)
    assert p.session.calls == []


def test_next_link_paging_across_pages(tmp_path):
    first = [machine('n%d' % i, '%040x' % i) for i in range(3)]
    second = [machine('n%d' % i, '%040x' % i) for i in range(2, 5)]  # overlaps: one host per machine ID
    p = Plugin(tmp_path, [page(first, API_URL + '/api/machines?$top=9997&$skip=3'), page(second)])
    inventory = p.parse()
    assert sorted(inventory.hosts) == ['n0', 'n1', 'n2', 'n3', 'n4']
    assert p.queries()[1] == ('/api/machines', {'$top': '9997', '$skip': '3'})


def test_skip_paging_while_pages_are_full(tmp_path):
    full = [machine('s%05d' % i, '%040x' % i) for i in range(_http.PAGE_SIZE)]
    rest = [machine('t%d' % i, '%040x' % (i + 10 ** 6)) for i in range(3)]
    p = Plugin(tmp_path, [page(full), page(rest)])
    inventory = p.parse()
    assert len(inventory.hosts) == _http.PAGE_SIZE + 3
    assert [q[1].get('$skip') for q in p.queries()] == [None, str(_http.PAGE_SIZE)]


def test_error_mid_paging_makes_no_host_and_keeps_the_cache(tmp_path):
    old = {'old': 'cache'}
    cache = {}
    p = Plugin(tmp_path, [page([machine('n0', '0' * 40)], API_URL + '/api/machines?$skip=1'),
                          make_response(503, error_body('ServiceUnavailable', 'Try later'))],
               {'cache': True}, cache=cache)
    key = p.plugin.get_cache_key('/x/test.mde_machines.yml')
    cache[key] = old
    with pytest.raises(AnsibleParserError) as info:
        p.parse(cache=False)  # --flush-cache: the cache would be rewritten by a good run
    assert 'the inventory was not built (no host of it is used)' in str(info.value)
    assert 'HTTP 503' in str(info.value)
    assert list(p.inventory.hosts) == []
    assert cache[key] is old


def test_fresh_cache_makes_no_request_and_a_good_run_writes_it(tmp_path):
    cache = {}
    first = Plugin(tmp_path, [page(FLEET), page([act(DB, 'Isolate', 'Succeeded', 2)])], {'cache': True, 'isolation_state': True},
                   cache=cache)
    first.parse()  # a miss: fetched and written
    assert len(first.session.calls) == 2 and len(cache) == 1
    again = Plugin(tmp_path, [], {'cache': True, 'isolation_state': True}, cache=cache)
    inventory = again.parse()
    assert again.session.calls == []
    assert again.group('mde_isolated') == ['db-02']
    assert sorted(inventory.hosts) == sorted(first.inventory.hosts)


def test_cache_of_other_options_is_not_used(tmp_path):
    cache = {}
    Plugin(tmp_path, [page(FLEET)], {'cache': True}, cache=cache).parse()
    wider = Plugin(tmp_path, [page(FLEET), page([])], {'cache': True, 'isolation_state': True}, cache=cache)
    wider.parse()
    assert len(wider.session.calls) == 2, 'a cache without the actions is not used for isolation_state'
    other = Plugin(tmp_path, [page(FLEET[3:4])], {'cache': True, 'isolation_state': False, 'filters': {'os_platform': 'Linux'}},
                   cache=cache)
    other.parse()
    assert len(other.session.calls) == 1, 'a cache made with other filters is not used'


def test_404_is_an_empty_inventory_with_a_warning(tmp_path):
    p = Plugin(tmp_path, [make_response(404, error_body('ResourceNotFound', 'No recent machines were found'))])
    inventory = p.parse()
    assert list(inventory.hosts) == []
    assert p.warnings == ['/x/test.mde_machines.yml: MDE listed no machines.']


@pytest.mark.parametrize('isolation_state, fail_call', [(False, 0), (True, 1)])
def test_403_names_the_permission(tmp_path, isolation_state, fail_call):
    refused = make_response(403, error_body('Forbidden', 'Missing application roles. API required roles: Machine.Read.All'))
    script = [page(FLEET)] * fail_call + [refused, refused]  # the client's one fresh token is refused too
    p = Plugin(tmp_path, script, {'isolation_state': isolation_state})
    with pytest.raises(AnsibleParserError) as info:
        p.parse()
    assert 'WindowsDefenderATP application permission Machine.Read.All (or Machine.ReadWrite.All)' in str(info.value)
    assert 'fresh token did not carry the role' in str(info.value)
    assert p.session.tokens_sent()[-2:] == ['Bearer token-1', 'Bearer token-2']
    assert list(p.inventory.hosts) == []


def test_host_variables_are_never_templated(tmp_path):
    p = Plugin(tmp_path, [page([machine('evil', WEB, machineTags=['{{ 7 * 6 }}'])])])
    p.parse()
    templar = Templar(loader=DataLoader(), variables=p.hostvars('evil'))
    assert templar.template(trusted('{{ mde_machine_tags[0] }}')) == '{{ 7 * 6 }}'
    assert templar.template(trusted('{{ 7 * 6 }}')) in (42, '42'), 'the templar of the test does template'


def test_verify_file():
    plugin = mde_machines.InventoryModule()
    here = os.path.dirname(os.path.abspath(__file__))
    assert not plugin.verify_file(os.path.join(here, 'missing.mde_machines.yml'))
    assert not plugin.verify_file(PLUGIN_FILE)


# The connection options are the modules' ---------------------------------------------------------------

def plugin_doc():
    doc = get_docstring(PLUGIN_FILE, fragment_loader, collection_name='defender.endpoint', is_module=False)[0]
    return doc['options']


def test_every_connection_option_is_a_plugin_option_with_the_same_type_default_and_environment():
    options = plugin_doc()
    for name, spec in CONNECTION_ARGSPEC.items():
        assert name in options, 'connection option %s missing from the plugin' % name
        doc = options[name]
        assert doc.get('type', 'str') == spec.get('type', 'str'), name
        assert doc.get('default') == spec.get('default'), name
        assert sorted(doc.get('choices') or []) == sorted(spec.get('choices') or []), name
        envs = (spec.get('fallback') or (None, []))[1]
        described = re.findall(r'E\(([A-Z0-9_]+)\)', ' '.join(doc['description']))
        assert [e for e in described if e in envs] == list(envs), 'the docs of %s name its environment variables in order' % name
        assert 'env' not in doc, '%s: environment variables are resolved as the modules resolve them, not by Ansible' % name


def _env_cases():
    for name, spec in CONNECTION_ARGSPEC.items():
        for env in (spec.get('fallback') or (None, []))[1]:
            yield name, spec, env


SAMPLES = {'str': 'sample-value', 'path': '/tmp/sample', 'bool': 'false', 'int': '7', 'float': '2.5'}


@pytest.mark.parametrize('name, spec, env', list(_env_cases()), ids=lambda v: v if isinstance(v, str) else '')
def test_each_environment_variable_is_read_as_the_modules_read_it(monkeypatch, name, spec, env):
    for other in (spec.get('fallback') or (None, []))[1]:
        monkeypatch.delenv(other, raising=False)
    value = spec['choices'][-1] if spec.get('choices') else SAMPLES[spec.get('type', 'str')]
    monkeypatch.setenv(env, value)
    params = mde_machines.connection_params({}, lambda option: None)
    expected = {'bool': False, 'int': 7, 'float': 2.5}.get(spec.get('type'), value)
    assert params[name] == expected
    monkeypatch.setenv(env, '')  # an empty variable counts as unset
    assert mde_machines.connection_params({}, lambda option: None)[name] == spec.get('default')


def test_the_first_set_variable_wins_and_the_config_file_wins_over_the_environment(monkeypatch):
    monkeypatch.delenv('MDE_CLIENT_SECRET', raising=False)
    monkeypatch.setenv('AZURE_CLIENT_SECRET', 'azure-client-secret')
    monkeypatch.setenv('AZURE_SECRET', 'awx-secret')
    assert mde_machines.connection_params({}, lambda option: None)['client_secret'] == 'azure-client-secret'
    given = {'client_secret': 'from-the-file', 'timeout': 3.0}
    params = mde_machines.connection_params(given, given.get)
    assert params['client_secret'] == 'from-the-file' and params['timeout'] == 3.0


def test_plugin_error_has_no_secret(tmp_path, monkeypatch):
    monkeypatch.delenv('MDE_ACCESS_TOKEN')
    monkeypatch.setenv('MDE_CLIENT_SECRET', 'sup3r-s3cret-value')
    p = Plugin(tmp_path, [], {'api_url': 'http://insecure.example'})
    with pytest.raises(AnsibleParserError) as info:
        p.parse()
    assert 'sup3r-s3cret-value' not in str(info.value)


def test_fetch_error_is_mde_error_untouched_for_other_statuses():
    class Client:
        def list_all(self, path, api, params=None):
            raise MdeError('boom', status=500)
    with pytest.raises(MdeError) as info:
        _inventory.fetch(Client(), {}, False)
    assert info.value.msg == 'boom'
