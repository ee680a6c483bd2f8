# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: mde_machines
short_description: Inventory of the machines of Microsoft Defender for Endpoint, with their isolation state
version_added: 1.0.0
author:
  - defender.endpoint contributors (@defender-endpoint)
description:
  - Makes a host of every machine that Microsoft Defender for Endpoint (MDE) lists (C(GET /api/machines)), with every machine
    property as a host variable, so that plays target machines by group (operating system, health, risk, tags, device group)
    and the collection's roles act on them per host (they read the host variable C(mde_machine_id)).
  - With O(isolation_state), adds each machine's isolation and app-restriction state, which the API's machine entity does not
    carry, derived from the machine actions of the whole tenant in one paged call, and the groups C(mde_isolated) and
    C(mde_restricted).
  - "The configuration file must end in C(mde_machines.yml) or C(mde_machines.yaml) and start with
    C(plugin: defender.endpoint.mde_machines)."
  - Everything is fetched before any host is made. Any error while listing fails the whole inventory source, never a partial
    list of machines; a cache from an earlier good run is kept.
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - defender.endpoint.connection
  - defender.endpoint.connection.plugins
options:
  plugin:
    description: The name of this plugin, so that Ansible knows the file is its configuration.
    type: str
    required: true
    choices: [defender.endpoint.mde_machines]
  filters:
    description:
      - Which machines to take. Each key takes a value or a list of values (any of them matches); all keys must match.
      - They are sent as the API's C($filter) on its documented filterable properties, and checked again on each listed machine.
      - V(health_status) (V(Active), V(Inactive), V(ImpairedCommunication), V(NoSensorData), V(NoSensorDataImpairedCommunication),
        V(Unknown)), V(os_platform) (for example V(Windows11), V(WindowsServer2019), V(Linux)), V(machine_tags) (machines with
        any of these tags), V(exposure_level) (V(None), V(Low), V(Medium), V(High)), V(risk_score) (V(None), V(Informational),
        V(Low), V(Medium), V(High)), V(onboarding_status) (for example V(Onboarded)).
      - V(rbac_group_id) (device group IDs) is checked on the listed machines only, since the literal type the API expects for
        it is not documented.
      - V(last_seen_after) takes an ISO 8601 date or date-time such as V(2025-05-01T08:00:00Z), or a time before now such as
        V(7d), V(12h) or V(30m). MDE updates C(lastSeen) about once a day, so use a window of days.
      - V(computer_dns_name) takes the start of the names (C(startswith), case-insensitive), for example V(web-) or a full name.
    type: dict
    default: {}
  hostnames:
    description:
      - Machine properties in order of preference (snake_case, as the host variables are named without the prefix); the first
        one a machine has names its host. The machine ID names it when none has a value.
      - When several machines get the same name (re-imaged or re-onboarded devices keep their old records), the one seen most
        recently keeps the name and the others are named by their machine ID; each of them has the host variable
        C(mde_duplicate_of) (with O(hostvars_prefix)) listing the IDs of the others.
    type: list
    elements: str
    default: [computer_dns_name, id]
  hostvars_prefix:
    description:
      - Prefix of the host variables made from the machine properties, which are in snake_case (C(mde_computer_dns_name),
        C(mde_os_platform), C(mde_health_status), C(mde_machine_tags), C(mde_last_ip_address), C(mde_rbac_group_name), ...).
      - C(mde_machine_id) (the machine ID, the variable the collection's roles read) is set whatever the prefix.
      - C(ansible_host) is not set; set it with O(compose), for example to C(mde_last_ip_address).
    type: str
    default: mde_
  isolation_state:
    description:
      - Adds the host variables C(mde_isolation) and C(mde_app_restriction) (with O(hostvars_prefix)) and the groups
        C(mde_isolated) (C(isolated) or C(isolating)) and C(mde_restricted) (C(restricted) or C(restricting)).
      - C(mde_isolation) is V(isolated), V(isolating) (an Isolate is Pending or InProgress), V(released), V(releasing), or
        V(unknown) (no such action in the history the API keeps). C(mde_app_restriction) is V(restricted), V(restricting),
        V(unrestricted), V(unrestricting) or V(unknown).
      - The state is that of the newest Isolate or Unisolate (RestrictCodeExecution or UnrestrictCodeExecution) action of the
        machine that is Pending, InProgress or Succeeded, the rule M(defender.endpoint.mde_machine_isolation) and
        M(defender.endpoint.mde_machine_app_restriction) follow.
      - Costs one more paged list call (C(GET /api/machineactions)) for the whole tenant, not one per machine.
    type: bool
    default: false
notes:
  - API calls of a run, measured against the emulator; N machines, each list call returns up to 10,000 of them.
    Without O(isolation_state), ceil((N + 1) / 10,000) list calls (one more when N is a multiple of 10,000, to see the end);
    O(isolation_state) adds the list calls of the actions in the same way. A token is requested only when the shared token
    cache holds none; a fresh inventory cache (O(cache)) makes no call at all.
  - If Ansible should stop when the inventory cannot be built (rather than go on without these hosts), set
    C(any_unparsed_is_failed) (E(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED)) in the C([inventory]) section of C(ansible.cfg).
  - Every host variable value comes from the API and is marked unsafe, so it is never templated.
seealso:
  - name: List machines API
    description: The API call that lists the machines, its filters and paging.
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/get-machines
  - name: List machine actions API
    description: The API call that gives the isolation and app-restriction state.
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/get-machineactions-collection
  - module: defender.endpoint.mde_machine_isolation
  - module: defender.endpoint.mde_machine_info
'''

EXAMPLES = r'''
---
# inventory.mde_machines.yml: every machine, credentials from MDE_TENANT_ID, MDE_CLIENT_ID and MDE_CLIENT_SECRET
plugin: defender.endpoint.mde_machines

---
# finance.mde_machines.yml: the Windows servers of the Finance device group with high risk, grouped by tag
plugin: defender.endpoint.mde_machines
filters:
  os_platform: [WindowsServer2019, WindowsServer2022]
  risk_score: High
  rbac_group_id: 140
  last_seen_after: 7d
keyed_groups:
  - key: mde_machine_tags
    prefix: tag
  - key: mde_os_platform
    prefix: os
  - key: mde_health_status
    prefix: health
compose:
  ansible_host: mde_last_ip_address

---
# isolated.mde_machines.yml: which machines are isolated right now (group mde_isolated), cached for 10 minutes,
# with the client secret vault-encrypted in the file
plugin: defender.endpoint.mde_machines
tenant_id: 00000000-0000-0000-0000-000000000000
client_id: 11111111-1111-1111-1111-111111111111
client_secret: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  6231...
isolation_state: true
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/defender.endpoint/inventory
cache_timeout: 600
groups:
  isolating: mde_isolation == 'isolating'
'''

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.defender.endpoint.plugins.module_utils._connection import CONNECTION_ARGSPEC
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils._module import MdeConnection
from ansible_collections.defender.endpoint.plugins.module_utils import _inventory


def connection_params(config, get_option):
    """The connection options as the modules resolve them: those the configuration file sets, then (through
    CONNECTION_ARGSPEC's own fallbacks) the environment, then the defaults. Raises MdeError on bad values."""
    given = dict((name, get_option(name)) for name in CONNECTION_ARGSPEC if name in config)
    result = ArgumentSpecValidator(CONNECTION_ARGSPEC).validate(given)
    if result.error_messages:
        raise MdeError('Connection options of the inventory: %s.' % '; '.join(result.error_messages), kind='config')
    return result.validated_parameters


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'defender.endpoint.mde_machines'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('mde_machines.yml', 'mde_machines.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        config = self._read_config_data(path)
        isolation_state = self.get_option('isolation_state')
        try:
            checked = _inventory.check_filters(self.get_option('filters'))
            hostnames = _inventory.check_hostnames(self.get_option('hostnames'))
            prefix = _inventory.check_prefix(self.get_option('hostvars_prefix'))
            params = connection_params(config, self.get_option)
            connection = MdeConnection(params, self.display.warning)
        except MdeError as err:
            raise AnsibleParserError('%s: %s' % (path, err.msg))
        source = {'filters': self.get_option('filters') or {}, 'api_url': connection.settings.api_url,
                  'tenant_id': connection.settings.tenant_id}

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        data = None
        if use_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                data = None
            if not _inventory.usable_cache(data, isolation_state) or data.get('source') != source:
                data = None
                update_cache = True
        if data is None:
            try:
                data = _inventory.fetch(self.connect_client(connection), checked, isolation_state)
            except MdeError as err:
                raise AnsibleParserError('%s: the inventory was not built (no host of it is used): %s' % (path, err.msg))
            data['source'] = source
            if not data['machines']:
                self.display.warning('%s: MDE listed no machines%s.' % (path, ' matching the filters' if checked else ''))

        self.populate(_inventory.hosts(data, checked, hostnames, prefix, isolation_state), isolation_state)
        if update_cache:
            self._cache[cache_key] = data

    def connect_client(self, connection):
        """The API client of ``connection`` (a seam for the unit tests)."""
        return connection.client

    def populate(self, hosts, isolation_state):
        strict = self.get_option('strict')
        if isolation_state:
            for group in (_inventory.ISOLATED_GROUP, _inventory.RESTRICTED_GROUP):
                self.inventory.add_group(group)
        for host in hosts:
            self.inventory.add_host(host.name)
            variables = dict((key, wrap_var(value)) for key, value in host.variables.items())
            for key, value in variables.items():
                self.inventory.set_variable(host.name, key, value)
            for group in host.groups:
                self.inventory.add_child(group, host.name)
            self._set_composite_vars(self.get_option('compose'), variables, host.name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), variables, host.name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, host.name, strict=strict)
