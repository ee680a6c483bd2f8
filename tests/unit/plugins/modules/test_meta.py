# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every module is in the mde action group, says so in its docs, and carries version_added."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, 'plugins', 'modules')) if f.startswith('mde_') and f.endswith('.py'))


def docs(name):
    with open(os.path.join(ROOT, 'plugins', 'modules', name + '.py')) as handle:
        tree = ast.parse(handle.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
            found[node.targets[0].id] = yaml.safe_load(node.value.value)
    return found


def test_there_are_modules():
    assert 'mde_machine_action_cancel' in MODULES and len(MODULES) >= 2


def test_action_group_lists_exactly_the_modules():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        runtime = yaml.safe_load(handle)
    assert sorted(runtime['action_groups']['mde']) == MODULES


@pytest.mark.parametrize('name', MODULES)
def test_module_docs_are_complete(name):
    found = docs(name)
    doc = found['DOCUMENTATION']
    assert doc['module'] == name
    assert doc['version_added'] == '1.0.0'
    assert 'defender.endpoint.attributes.action_group' in doc['extends_documentation_fragment']
    assert 'defender.endpoint.connection' in doc['extends_documentation_fragment']
    assert not doc['short_description'].endswith('.')
    assert found['EXAMPLES'], 'EXAMPLES must not be empty'
    assert found['RETURN'], 'RETURN must not be empty'
    for task in found['EXAMPLES']:
        modules = [k for k in task if '.' in k and k not in ('delegate_to',)]
        for key in modules:
            assert key.startswith(('defender.endpoint.', 'ansible.builtin.')), 'FQCN expected in EXAMPLES: %s' % key


def test_user_agent_names_the_version_of_galaxy_yml():
    from ansible_collections.defender.endpoint.plugins.module_utils import _http  # pylint: disable=import-outside-toplevel
    with open(os.path.join(ROOT, 'galaxy.yml')) as handle:
        version = yaml.safe_load(handle)['version']
    assert _http.COLLECTION_VERSION == version, 'COLLECTION_VERSION in plugins/module_utils/_http.py must be galaxy.yml\'s version'
    assert _http.USER_AGENT.startswith('defender.endpoint/%s ' % version)


def test_wait_timeout_has_one_default():
    """The cancel module and the launching modules (their doc fragment and argument spec) wait 600 s by default."""
    from ansible_collections.defender.endpoint.plugins.doc_fragments import launch  # pylint: disable=import-outside-toplevel
    from ansible_collections.defender.endpoint.plugins.module_utils import _runner  # pylint: disable=import-outside-toplevel
    cancel = docs('mde_machine_action_cancel')['DOCUMENTATION']['options']['wait_timeout']['default']
    fragment = yaml.safe_load(launch.ModuleDocFragment.DOCUMENTATION)['options']['wait_timeout']['default']
    with open(os.path.join(ROOT, 'plugins', 'modules', 'mde_machine_action_cancel.py')) as handle:
        source = handle.read()
    assert cancel == fragment == _runner.LAUNCH_ARGSPEC['wait_timeout']['default'] == 600
    assert "wait_timeout=dict(type='int', default=600)" in source
