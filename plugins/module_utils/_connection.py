# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Connection options shared by every module: the argument spec and the one place that reads the
settings (option, then environment variable, then default). The credentials are read by the
auth method ``_auth.choose_auth_method`` picks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import os
import re

from ansible.module_utils.basic import AnsibleFallbackNotFound

from ansible_collections.defender.endpoint.plugins.module_utils._errors import config_error
from ansible_collections.defender.endpoint.plugins.module_utils._clouds import CLOUDS

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore


def _set_env(*names):
    """Ansible's env_fallback, except that an empty variable counts as unset: an AWX credential injects every
    variable of its type, an empty one for each field left empty (the rate limits, for example)."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def _env(*names):
    return {'fallback': (_set_env, list(names))}


CONNECTION_ARGSPEC = dict(
    # AZURE_TENANT and AZURE_SECRET last: what AWX's built-in "Microsoft Azure Resource Manager" credential injects
    tenant_id=dict(type='str', **_env('MDE_TENANT_ID', 'AZURE_TENANT_ID', 'AZURE_TENANT')),
    client_id=dict(type='str', **_env('MDE_CLIENT_ID', 'AZURE_CLIENT_ID')),
    client_secret=dict(type='str', no_log=True, **_env('MDE_CLIENT_SECRET', 'AZURE_CLIENT_SECRET', 'AZURE_SECRET')),
    client_certificate_path=dict(type='path', **_env('MDE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PATH')),
    client_certificate_password=dict(type='str', no_log=True, **_env('MDE_CLIENT_CERTIFICATE_PASSWORD', 'AZURE_CLIENT_CERTIFICATE_PASSWORD')),
    access_token=dict(type='str', no_log=True, **_env('MDE_ACCESS_TOKEN')),
    # workload identity federation and managed identity (issue 15); AZURE_FEDERATED_TOKEN_FILE: what the AKS webhook injects
    auth_method=dict(type='str', default='auto', choices=['auto', 'client_secret', 'certificate', 'access_token', 'workload_identity',
                                                          'managed_identity'], **_env('MDE_AUTH_METHOD')),
    federated_token_file=dict(type='path', **_env('MDE_FEDERATED_TOKEN_FILE', 'AZURE_FEDERATED_TOKEN_FILE')),
    federated_token=dict(type='str', no_log=True, **_env('MDE_FEDERATED_TOKEN')),
    managed_identity_client_id=dict(type='str', **_env('MDE_MANAGED_IDENTITY_CLIENT_ID')),
    cloud=dict(type='str', default='commercial', choices=sorted(CLOUDS), **_env('MDE_CLOUD')),
    api_url=dict(type='str', **_env('MDE_API_URL')),
    authority_host=dict(type='str', **_env('MDE_AUTHORITY_HOST', 'AZURE_AUTHORITY_HOST')),
    scope=dict(type='str', **_env('MDE_SCOPE')),
    validate_certs=dict(type='bool', default=True, **_env('MDE_VALIDATE_CERTS')),
    ca_path=dict(type='path', **_env('MDE_CA_PATH')),
    timeout=dict(type='float', default=30.0),
    max_retries=dict(type='int', default=5, **_env('MDE_MAX_RETRIES')),
    max_wait=dict(type='float', default=60.0, **_env('MDE_MAX_WAIT')),
    rate_limit_per_minute=dict(type='int', default=100, **_env('MDE_RATE_LIMIT_PER_MINUTE')),
    rate_limit_per_hour=dict(type='int', default=1500, **_env('MDE_RATE_LIMIT_PER_HOUR')),
    poll_interval=dict(type='float', default=10.0, **_env('MDE_POLL_INTERVAL')),
    # the rate budget's store (issue 14): files of this host, or a Redis server shared by every job and node
    rate_limit_backend=dict(type='str', default='file', choices=['file', 'redis'], **_env('MDE_RATE_LIMIT_BACKEND')),
    redis_url=dict(type='str', no_log=True, **_env('MDE_REDIS_URL')),
)

TIME_SCALE_ENV = 'MDE_TIME_SCALE'
_HOST_LABEL = re.compile(r'^[A-Za-z0-9._\-]+$')
_LOOPBACK = ('127.0.0.1', 'localhost', '::1')


def _https_url(name, env, value):
    """Check and normalise an https URL option (no path beyond what the service needs)."""
    value = value.strip().rstrip('/')
    parts = urlsplit(value)
    if parts.scheme != 'https' or not parts.hostname:
        raise config_error('%s (%s) must be an https:// URL such as https://api.security.microsoft.com, not "%s". The '
                           'collection only talks TLS, the emulator included.' % (name, env, value))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise config_error('%s (%s) must be a plain https://host[:port] URL without query, fragment or user info.' % (name, env))
    try:
        parts.port  # pylint: disable=pointless-statement
    except ValueError:
        raise config_error('%s (%s) has an invalid port: "%s".' % (name, env, value))
    return value


def emulator_time_scale():
    """How many times faster than real time the service's rate-limit windows run: 1 against the real service.

    Only the project's emulator runs faster (its tests use a time scale of 60); its tests say so with the
    environment variable MDE_TIME_SCALE, read here and nowhere else. It is no option of the modules.
    """
    value = os.environ.get(TIME_SCALE_ENV)
    if value is None or not value.strip():
        return 1.0
    try:
        scale = float(value)
    except ValueError:
        scale = None
    if scale is None or math.isnan(scale) or math.isinf(scale) or scale <= 0:
        raise config_error('%s must be a number greater than 0, got "%s".' % (TIME_SCALE_ENV, value))
    return scale


class Settings:
    """Validated connection settings. Built before any request; raises MdeError(kind='config')."""

    def __init__(self, params):
        p = params
        self.cloud = p['cloud']
        defaults = CLOUDS[self.cloud]
        self.timeout = p['timeout']
        self.max_retries = p['max_retries']
        self.max_wait = p['max_wait']
        self.rate_limit_per_minute = p['rate_limit_per_minute']
        self.rate_limit_per_hour = p['rate_limit_per_hour']
        self.time_scale = emulator_time_scale()
        self.poll_interval = p['poll_interval']
        for name, value, low in (('timeout', self.timeout, 0), ('max_wait', self.max_wait, 0),
                                 ('poll_interval', self.poll_interval, 0), ('rate_limit_per_minute', self.rate_limit_per_minute, 0),
                                 ('rate_limit_per_hour', self.rate_limit_per_hour, 0)):
            if value is None or value <= low:
                raise config_error('%s must be greater than %s, got %s.' % (name, low, value))
        if self.max_retries is None or self.max_retries < 0:
            raise config_error('max_retries must be 0 or more, got %s.' % self.max_retries)

        api_url = p['api_url'] or defaults['api_url']
        self.api_url = _https_url('api_url', 'MDE_API_URL', api_url)
        if self.api_url.lower().endswith('/api'):
            self.api_url = self.api_url[:-4]
        self.authority_host = _https_url('authority_host', 'MDE_AUTHORITY_HOST', p['authority_host'] or defaults['authority_host'])
        self.scope = (p['scope'] or defaults['scope']).strip()
        if not self.scope:
            raise config_error('scope must not be empty.')

        self.verify = True
        if p['ca_path']:
            if not os.path.exists(p['ca_path']):
                raise config_error('ca_path (MDE_CA_PATH) %s does not exist: point it at a PEM bundle of the CA certificates '
                                   'that sign the API and login hosts.' % p['ca_path'])
            self.verify = p['ca_path']
        self.validate_certs = p['validate_certs']
        if not self.validate_certs:
            self.verify = False

        # Who the credentials are for; which credentials, and checking them, is _auth.choose_auth_method's.
        self.tenant_id = (p['tenant_id'] or '').strip() or None
        self.client_id = (p['client_id'] or '').strip() or None
        if self.tenant_id is not None and not _HOST_LABEL.match(self.tenant_id):
            raise config_error('tenant_id must be the directory (tenant) ID, a GUID, or a verified domain name; got "%s".' % self.tenant_id)

        # The rate budget's store: checked here, before any request; the URL's password is never echoed.
        self.rate_limit_backend = p.get('rate_limit_backend') or 'file'
        self.redis = None
        if self.rate_limit_backend == 'redis':
            # imported only for this backend: a file-backend task does not compile it
            from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit_redis  # pylint: disable=import-outside-toplevel
            self.redis = _ratelimit_redis.RedisSettings(p.get('redis_url'))

    @property
    def authority(self):
        return '%s/%s' % (self.authority_host, self.tenant_id)
