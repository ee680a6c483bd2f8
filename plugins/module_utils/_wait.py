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

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError


def wait_final(get, action, timeout, interval, is_final, result, sleep, clock):
    """Poll ``get(id)`` every ``interval`` seconds until ``is_final(status)``; after ``timeout`` seconds fail
    with the action (``result(action)``) in the failure. Returns the final action."""
    deadline = clock() + timeout
    current = action
    while not is_final(current.get('status')):
        remaining = deadline - clock()
        if remaining <= 0:
            raise MdeError('Machine action %s is still %s after wait_timeout=%s s. It is still running on the server; '
                           'raise wait_timeout or look it up later with defender.endpoint.mde_machine_action_info.'
                           % (current.get('id'), current.get('status'), timeout),
                           kind='timeout', details={'machine_action': result(current)})
        sleep(min(interval, remaining))
        current = get(current['id'])
    return current
