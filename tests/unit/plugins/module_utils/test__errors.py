# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error


def test_result_has_only_the_keys_that_are_set():
    err = MdeError('it failed', status=404, error_code='ResourceNotFound')
    assert err.result() == {'msg': 'it failed', 'status': 404, 'error_code': 'ResourceNotFound'}
    assert str(err) == 'it failed'
    assert err.kind == 'api' and err.maybe_sent is False


def test_result_carries_all_fields_and_details():
    err = MdeError('m', kind='timeout', status=400, error_code='c', error_message='em', correlation_id='x', details={'machine_action': {'id': 'a'}})
    assert err.result() == {'msg': 'm', 'status': 400, 'error_code': 'c', 'error_message': 'em', 'correlation_id': 'x',
                            'machine_action': {'id': 'a'}}


def test_config_error():
    err = config_error('bad option')
    assert err.kind == 'config' and err.result() == {'msg': 'bad option'}
