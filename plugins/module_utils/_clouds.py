# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""API host, login host and token scope of each cloud (Microsoft's documented endpoints of the commercial
cloud and of the US Government clouds GCC, GCC High and DoD)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

CLOUDS = {
    'commercial': {
        'api_url': 'https://api.securitycenter.microsoft.com',
        'authority_host': 'https://login.microsoftonline.com',
        'scope': 'https://api.securitycenter.microsoft.com/.default',
    },
    'gcc': {
        'api_url': 'https://api-gcc.securitycenter.microsoft.us',
        'authority_host': 'https://login.microsoftonline.com',
        'scope': 'https://api-gcc.securitycenter.microsoft.us/.default',
    },
    'gcc_high': {
        'api_url': 'https://api-gov.securitycenter.microsoft.us',
        'authority_host': 'https://login.microsoftonline.us',
        'scope': 'https://api-gov.securitycenter.microsoft.us/.default',
    },
    'dod': {
        'api_url': 'https://api-gov.securitycenter.microsoft.us',
        'authority_host': 'https://login.microsoftonline.us',
        'scope': 'https://api-gov.securitycenter.microsoft.us/.default',
    },
}

# Login hosts whose instance metadata msal may look up itself; any other authority host
# (a private endpoint, the emulator) is used as given.
MICROSOFT_LOGIN_HOSTS = frozenset([
    'login.microsoftonline.com', 'login.microsoftonline.us', 'login.microsoft.com',
    'login.windows.net', 'login.partner.microsoftonline.cn', 'login.chinacloudapi.cn',
])
