# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""``MdeModule``: an AnsibleModule that carries the shared connection options and builds the
API client after validating every setting, before any request is sent."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils._connection import CONNECTION_ARGSPEC, Settings
from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils import _http


def mde_argument_spec(**extra):
    spec = dict(CONNECTION_ARGSPEC)
    spec.update(extra)
    return spec


VALIDATE_CERTS_WARNING = ('validate_certs is false: TLS certificates of the API and login hosts are not checked, so the token '
                          'and credentials can be intercepted. Prefer ca_path for a private CA.')


class MdeConnection:
    """Validated settings, the chosen auth method and the API client (built on first use) from connection
    ``params`` (CONNECTION_ARGSPEC's options, resolved): what every module and the inventory plugin talk to the
    API through. Raises MdeError (kind ``config``) before any request; ``warn(msg)`` receives the warnings and
    ``secret_sink`` each token (a module's ``no_log_values.add``)."""

    def __init__(self, params, warn, secret_sink=None):
        self.settings = Settings(params)
        if self.settings.redis is not None and self.settings.redis.password and secret_sink is not None:
            secret_sink(self.settings.redis.password)  # redis_url is no_log; its password alone too
        self.auth = _auth.choose_auth_method(self.settings, params)
        if not self.settings.validate_certs:
            warn(VALIDATE_CERTS_WARNING)
        self.secret_sink = secret_sink
        self.warn = warn
        self._client = None

    @property
    def client(self):
        if self._client is None:
            discovery = _files.private_dir('discovery') if self.auth.logs_in else None
            session = _http.MdeSession(self.settings.verify, self.settings.timeout, discovery_folder=discovery)
            self.auth.bind(session, time.sleep, secret_sink=self.secret_sink)
            self._client = _http.MdeClient(self.settings, session, self.auth, warn=self.warn)
        return self._client


class MdeModule(AnsibleModule):

    def __init__(self, argument_spec, **kwargs):
        super(MdeModule, self).__init__(mde_argument_spec(**argument_spec), **kwargs)
        try:
            self.connection = MdeConnection(self.params, self.warn, secret_sink=self.no_log_values.add)
        except MdeError as err:
            self.fail_from_error(err)
        self.settings = self.connection.settings
        self.auth = self.connection.auth

    @property
    def client(self):
        return self.connection.client

    def fail_from_error(self, err, **extra):
        result = err.result()
        result.update(extra)
        self.fail_json(**result)
