# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  tenant_id:
    description:
      - The Entra ID directory (tenant) ID, or a verified domain of the tenant.
      - Falls back to E(MDE_TENANT_ID), then E(AZURE_TENANT_ID), then E(AZURE_TENANT).
      - The last one is the name AWX's built-in Microsoft Azure Resource Manager credential injects.
      - Needed with O(client_secret), O(client_certificate_path) and a federated token (O(auth_method=workload_identity)).
    type: str
  client_id:
    description:
      - The application (client) ID of the app registration that holds the WindowsDefenderATP application permissions.
      - Falls back to E(MDE_CLIENT_ID), then E(AZURE_CLIENT_ID).
    type: str
  client_secret:
    description:
      - A client secret of the app registration (its value, not its ID).
      - Falls back to E(MDE_CLIENT_SECRET), then E(AZURE_CLIENT_SECRET), then E(AZURE_SECRET).
      - The last one is the name AWX's built-in Microsoft Azure Resource Manager credential injects.
      - Used when neither O(access_token) nor O(client_certificate_path) is set.
    type: str
  client_certificate_path:
    description:
      - Path to a PEM file holding the certificate and its private key, or to a PKCS#12 (PFX) file, uploaded to the app registration.
      - Falls back to E(MDE_CLIENT_CERTIFICATE_PATH), then E(AZURE_CLIENT_CERTIFICATE_PATH).
      - Takes precedence over O(client_secret). The file is read and checked before any request is sent.
    type: path
  client_certificate_password:
    description:
      - Password of the private key in O(client_certificate_path), if it is encrypted.
      - Falls back to E(MDE_CLIENT_CERTIFICATE_PASSWORD), then E(AZURE_CLIENT_CERTIFICATE_PASSWORD).
    type: str
  access_token:
    description:
      - A ready bearer token for the API. Entra ID is not contacted and nothing is cached.
      - Falls back to E(MDE_ACCESS_TOKEN). Takes precedence over the other credentials.
      - A token the API refuses (HTTP 401) cannot be renewed by the module; the task fails and says so.
    type: str
  auth_method:
    description:
      - How to sign in. V(auto) takes the first present of O(access_token), O(client_certificate_path), O(client_secret),
        then a federated token (O(federated_token) or O(federated_token_file)).
      - V(workload_identity) exchanges a platform's OIDC token (GitHub Actions, Azure DevOps, GitLab, Kubernetes) for a token of the
        app O(client_id) in O(tenant_id), through a federated credential of the app registration. No secret is stored.
      - V(managed_identity) uses the managed identity of the Azure host the module runs on (VM, scale set, Arc-enabled server,
        App Service, Functions); V(auto) never picks it, so that no metadata endpoint is probed off Azure. Needs msal 1.29 or later.
      - The other values use only that method's options, and fail before any request when they are missing.
      - Falls back to E(MDE_AUTH_METHOD).
    type: str
    choices: [auto, client_secret, certificate, access_token, workload_identity, managed_identity]
    default: auto
  federated_token_file:
    description:
      - A file holding the OIDC token of workload identity federation (its audience is usually C(api://AzureADTokenExchange)).
      - Read again at each token request, so a platform that rotates it (the AKS workload identity webhook) is followed.
      - Falls back to E(MDE_FEDERATED_TOKEN_FILE), then E(AZURE_FEDERATED_TOKEN_FILE) (what the AKS webhook injects).
    type: path
  federated_token:
    description:
      - The OIDC token of workload identity federation itself. Takes precedence over O(federated_token_file).
      - Falls back to E(MDE_FEDERATED_TOKEN). Prefer O(federated_token_file), as such tokens expire within minutes.
    type: str
  managed_identity_client_id:
    description:
      - With O(auth_method=managed_identity), the client ID of the user-assigned managed identity to use.
        Unset, the host's system-assigned identity is used.
      - Falls back to E(MDE_MANAGED_IDENTITY_CLIENT_ID).
    type: str
  cloud:
    description:
      - The Microsoft cloud, which picks the API host, the login host and the token scope.
      - V(commercial) uses C(https://api.securitycenter.microsoft.com) and C(https://login.microsoftonline.com).
      - V(gcc) uses C(https://api-gcc.securitycenter.microsoft.us) and C(https://login.microsoftonline.com).
      - V(gcc_high) and V(dod) use C(https://api-gov.securitycenter.microsoft.us) and C(https://login.microsoftonline.us).
      - Falls back to E(MDE_CLOUD).
    type: str
    choices: [commercial, dod, gcc, gcc_high]
    default: commercial
  api_url:
    description:
      - Overrides the API host of O(cloud), for example a regional host such as C(https://eu.api.security.microsoft.com),
        or the emulator.
      - Must be an C(https://) URL. Falls back to E(MDE_API_URL).
      - Does not change the token scope; see O(scope).
    type: str
  authority_host:
    description:
      - Overrides the login host of O(cloud); the authority is C({authority_host}/{tenant_id}).
      - Must be an C(https://) URL. Falls back to E(MDE_AUTHORITY_HOST), then E(AZURE_AUTHORITY_HOST).
    type: str
  scope:
    description:
      - The token scope. Defaults to the one of O(cloud), for example C(https://api.securitycenter.microsoft.com/.default),
        never derived from O(api_url).
      - Falls back to E(MDE_SCOPE).
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificates of the API and login hosts.
      - Setting it to V(false) is insecure and makes the module warn; prefer O(ca_path) for a private CA.
      - Falls back to E(MDE_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle (PEM) used to verify both the login and the API hosts, for example a TLS-inspecting proxy's CA or the emulator's.
      - Falls back to E(MDE_CA_PATH). Without it, the bundle named by E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) is used when one is set,
        else the system's trust store.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP request (connect and each read).
    type: float
    default: 30
  max_retries:
    description:
      - How many times a throttled (HTTP 429), failed (HTTP 500, 502, 503, 504) or broken call is retried, when retrying is safe.
      - A call that launches an action is never sent again after it may have reached the service.
      - With O(max_wait) it also bounds the waiting of one API call, see O(max_wait).
      - Falls back to E(MDE_MAX_RETRIES).
    type: int
    default: 5
  max_wait:
    description:
      - The longest single wait, in seconds, for a retry, a C(Retry-After) answer or the shared rate budget.
      - When the service or the budget asks for a longer wait, the task fails at once and names this option rather than hang.
      - All the waits of one API call together (rate budget, C(Retry-After), backoff, the token request it may need, and for a
        download link the polls while it is not ready) last at most (O(max_retries) + 1) x O(max_wait) seconds, 360 with the
        defaults. A call that would have to wait longer, for example because other processes keep taking the freed rate-budget
        slots, fails at once naming that bound.
      - Falls back to E(MDE_MAX_WAIT).
    type: float
    default: 60
  rate_limit_per_minute:
    description:
      - Calls per minute the module lets all processes of this user on this host make to one API, per app and API host.
      - APIs with lower documented limits keep them (get package URI 2 a minute, live response 10 a minute).
      - Falls back to E(MDE_RATE_LIMIT_PER_MINUTE).
    type: int
    default: 100
  rate_limit_per_hour:
    description:
      - Calls per hour, as O(rate_limit_per_minute). Falls back to E(MDE_RATE_LIMIT_PER_HOUR).
    type: int
    default: 1500
  poll_interval:
    description:
      - Seconds between look-ups while a task waits for an action to become final.
      - Falls back to E(MDE_POLL_INTERVAL).
    type: float
    default: 10
  rate_limit_backend:
    description:
      - Where the rate budget (both windows and the 429 pause) is kept.
      - V(file), files of the user on the host that runs the module, shared by every fork and task there. Enough for one
        controller running one job at a time.
      - V(redis), a Redis server (6 or later) named by O(redis_url), shared by every job and execution node that uses it (AWX
        or Automation Controller jobs that run at the same time, on several nodes, or sliced). Checking both windows and recording
        the call is one atomic step on the server, timed by the server's clock. Tokens are never stored there.
      - When the Redis server cannot be reached, is slow (2 seconds) or answers an error, the call spends from the file budget of
        this host instead and the task returns a warning naming the problem; it does not fail because of the budget store.
      - V(redis) needs the Python library C(redis) where the module runs.
      - Falls back to E(MDE_RATE_LIMIT_BACKEND).
    type: str
    choices: [file, redis]
    default: file
  redis_url:
    description:
      - The Redis server of O(rate_limit_backend=redis), as C(redis://[[user]:PASSWORD@]host[:port][/db]),
        C(rediss://...) (TLS, the certificate and host name always verified against the system CAs) or
        C(unix://[[user]:PASSWORD@]/path/to/redis.sock[?db=N]).
      - For a server whose certificate a private CA signs, add C(?ssl_ca_certs=/path/to/ca.pem) (a PEM bundle) to the C(rediss://) URL;
        this is the one way to trust another CA (O(ca_path) is for the API and login hosts only). Verification cannot be turned off;
        no query parameter other than C(db) and C(ssl_ca_certs) is accepted.
      - It may carry a password, so it is never shown; messages show the host and port only.
      - Falls back to E(MDE_REDIS_URL).
    type: str
notes:
  - Each connection option is resolved on its own, from the task option, then its environment variables (an empty one counts as unset), then its default.
    Then the first present of O(access_token), O(client_certificate_path), O(client_secret) and a federated token is used,
    unless O(auth_method) names the method.
  - Set connection options once per play with C(module_defaults) and the action group C(group/defender.endpoint.mde).
  - "The modules talk to the API from where they run; run them on the controller (C(delegate_to: localhost) or C(connection: local)).
    Environment variables, the token cache and the rate budget are those of the user and host that run the module."
  - Tokens are cached until shortly before they expire in a folder of the user's cache directory
    (E(XDG_CACHE_HOME) or C(~/.cache), then C(defender.endpoint/tokens)), owner-only (0600 files in a 0700 folder); the module refuses
    a cache folder that other users can write to. With a fresh cached token no login host is contacted.
  - The rate budget (C(defender.endpoint/ratelimit) in the same cache directory) is shared by every fork and task of the user on the
    host, so parallel tasks wait for budget instead of being throttled, and an HTTP 429 seen by one pauses the others.
    With O(rate_limit_backend=redis) it is kept in the Redis server instead, shared by every job and node that uses it.
  - Every wait is bounded by O(timeout), O(max_retries) and O(max_wait) (and C(wait_timeout) where a module waits for an action).
    One API call waits at most (O(max_retries) + 1) x O(max_wait) seconds in all, and sends at most O(max_retries) + 1 requests
    (one more when a token is renewed after an HTTP 401), each bounded by O(timeout).
  - HTTPS requests go through the proxy of E(https_proxy) or E(HTTPS_PROXY) (else E(all_proxy) or E(ALL_PROXY)), an C(http://) proxy
    URL with optional C(user:password@), as a CONNECT tunnel (TLS stays end to end), except for the hosts of E(no_proxy) or E(NO_PROXY)
    (C(*), host names and their subdomains, C(host:port), IP addresses and CIDR ranges). The managed identity endpoint is always asked
    directly.
requirements:
  - msal (only to fetch tokens with O(client_secret), O(client_certificate_path) or a federated token; 1.29 or later for
    O(auth_method=managed_identity))
  - cryptography (only with O(client_certificate_path))
  - redis (only with O(rate_limit_backend=redis))
'''

    # Plugins (the inventory plugin defender.endpoint.mde_machines) extend DOCUMENTATION above and this one.
    PLUGINS = r'''
options: {}
notes:
  - In a plugin, each connection option is resolved as the modules resolve it, by the same argument spec, from the plugin's
    configuration file (where a secret may be a C(!vault) encrypted value), then the environment variables named in the
    option (the first set one wins, an empty one counts as unset, so an AWX credential that injects every variable of its
    type works), then the default.
  - The plugin runs on the controller, as the user that runs C(ansible-inventory), C(ansible-playbook) or the AWX inventory
    update, and shares that user's token cache and rate budget with the modules run there.
'''
