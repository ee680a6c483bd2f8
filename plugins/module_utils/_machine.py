# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Machines: the look-ups of mde_machine_info and the name resolution of every launching module."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import ipaddress
import re
import time

from ansible_collections.defender.endpoint.plugins.module_utils._entities import EntitySet, any_of, entity_result, odata_string
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error

HEALTH_STATUSES = ['Active', 'Inactive', 'ImpairedCommunication', 'NoSensorData', 'NoSensorDataImpairedCommunication', 'Unknown']
RISK_SCORES = ['None', 'Informational', 'Low', 'Medium', 'High']
EXPOSURE_LEVELS = ['None', 'Low', 'Medium', 'High']
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._\-]{0,254}$')


def check_computer_dns_name(value, option='computer_dns_name'):
    if not _NAME.match(value or '') or '..' in value:
        raise config_error('%s must be a host name or fully qualified name such as web-prod-01 or web-prod-01.contoso.com; got "%s".'
                           % (option, value))
    return value.lower().rstrip('.')


# findbyip: the timestamp must lie within the last 30 days; a little ahead of the controller's clock is clock skew.
FIND_BY_IP_DAYS = 30
FIND_BY_IP_SKEW = 300


def check_ip_address(value, option='ip_address'):
    """An IPv4 or IPv6 address, in its normal form (the API's ``ip`` argument)."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise config_error('%s must be an IPv4 or IPv6 address such as 10.1.2.3 or fe80::1 (a machine\'s internal address, without '
                           'a prefix length or port); got "%s".' % (option, value))


def check_seen_at(stamp, now, option='seen_at'):
    """``stamp`` (``_machine_action.parse_timestamp``'s UTC form of the option; None: ``now``) must lie within the
    last 30 days; returns the API's timestamp."""
    if stamp is None:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))
    when = calendar.timegm(time.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ'))
    if when < now - FIND_BY_IP_DAYS * 86400:
        raise config_error('%s must be within the last %d days (the API looks up IP addresses no further back); got %s, %.1f days ago.'
                           % (option, FIND_BY_IP_DAYS, stamp, (now - when) / 86400.0))
    if when > now + FIND_BY_IP_SKEW:
        raise config_error('%s is in the future (%s); give the time the IP address was seen, or leave it out for now.' % (option, stamp))
    return stamp


def machine_result(entity):
    """snake_case Machine, @odata keys dropped (the modules' return shape)."""
    return entity_result(entity)


def _names_match(wanted, name):
    """Case-insensitive: the FQDN itself, or the short name before the first dot."""
    name = (name or '').lower().rstrip('.')
    if not name:
        return False
    if wanted == name:
        return True
    if '.' not in wanted:
        return name.split('.', 1)[0] == wanted
    return False


def _candidate(m):
    return '%s (computerDnsName %s, lastSeen %s, healthStatus %s, onboardingStatus %s)' % (
        m.get('id'), m.get('computerDnsName'), m.get('lastSeen'), m.get('healthStatus'), m.get('onboardingStatus'))


CANDIDATE_KEYS = (('id', 'id'), ('computer_dns_name', 'computerDnsName'), ('last_seen', 'lastSeen'), ('health_status', 'healthStatus'),
                  ('onboarding_status', 'onboardingStatus'), ('is_potential_duplication', 'isPotentialDuplication'))


def _candidate_result(m):
    return dict((snake, m.get(camel)) for snake, camel in CANDIDATE_KEYS)


def build_machine_filter(health_status=None, os_platform=None, tag=None, risk_score=None, exposure_level=None):
    terms = []
    for prop, values in (('healthStatus', health_status), ('osPlatform', os_platform), ('riskScore', risk_score),
                         ('exposureLevel', exposure_level)):
        if values:
            terms.append(any_of(prop, values))
    if tag:
        terms.append('machineTags/any(tag: tag eq %s)' % odata_string(tag))
    return ' and '.join(terms) or None


class Machines(EntitySet):
    """Look-ups of machines; a list's 404 for "no recent machines" reads as none."""

    path = '/api/machines'
    what = 'machine'
    get_api = 'get_machine'
    list_api = 'list_machines'
    not_found_hint = 'No machine has this ID in the tenant (or it is outside the data retention period); check machine_id'
    check_listed = False
    empty_on_404 = True

    def search(self, machine_id=None, computer_dns_name=None, health_status=None, os_platform=None, tag=None, risk_score=None,
               exposure_level=None, ip_address=None, seen_at=None):
        """mde_machine_info's look-up: one machine by ID, the machines of a name or of an IP address (last seen first), or
        those matching filters."""
        if machine_id:
            found = self.find(machine_id)
            return [found] if found else []
        if ip_address:
            return self.by_ip(ip_address, seen_at)
        if computer_dns_name:
            found = self.by_name(computer_dns_name)
            found.sort(key=lambda m: m.get('lastSeen') or '', reverse=True)
            return found
        for value in os_platform or []:
            if not value or not value.replace('_', '').isalnum():
                raise config_error('os_platform values are MDE platform names such as Windows11 or Linux; got "%s".' % value)
        if tag is not None and not tag.strip():
            raise config_error('tag must not be empty.')
        return self.list(build_machine_filter(health_status=health_status, os_platform=os_platform, tag=tag, risk_score=risk_score,
                                              exposure_level=exposure_level))

    def by_ip(self, ip_address, timestamp):
        """The machines seen with an internal IP address in the 15 minutes before and after ``timestamp`` (the API's
        UTC form, within the last 30 days), last seen first. A 404 reads as none (the API does not say whether a
        miss is a 404 or an empty list)."""
        path = "%s/findbyip(ip='%s',timestamp=%s)" % (self.path, ip_address, timestamp)
        try:
            found = self.client.list_all(path, 'find_machines_by_ip', paged=False)
        except MdeError as err:
            if err.status == 404 and err.error_code in (None, 'NotFound', 'ResourceNotFound'):
                return []
            raise
        found.sort(key=lambda m: (m.get('lastSeen') or '') if isinstance(m, dict) else '', reverse=True)
        return found

    def by_name(self, name):
        """Machines whose computerDnsName is ``name`` (or whose short name is, for a name without a dot)."""
        name = name.lower()
        odata_filter = 'computerDnsName eq %s' % odata_string(name)
        if '.' not in name:
            odata_filter += " or startswith(computerDnsName,%s)" % odata_string(name + '.')
        return [m for m in self.list(odata_filter) if _names_match(name, m.get('computerDnsName'))]

    def resolve(self, machine_id=None, computer_dns_name=None):
        """The machine ID to act on. A name must match exactly one machine; the error lists the candidates."""
        if machine_id:
            return machine_id
        found = self.by_name(computer_dns_name)
        if len(found) == 1:
            return found[0]['id'].lower()
        if not found:
            raise MdeError('No machine named "%s" was found in MDE (computerDnsName, compared case-insensitively, also as a short '
                           'name). Check the name, or use machine_id.' % computer_dns_name, kind='api',
                           details={'candidates': []})
        found.sort(key=lambda m: m.get('lastSeen') or '', reverse=True)
        raise MdeError('%d machines are named "%s" (re-imaged or re-onboarded devices keep old records): %s. Pick one and pass its '
                       'machine_id.' % (len(found), computer_dns_name, '; '.join(_candidate(m) for m in found)), kind='api',
                       details={'candidates': [_candidate_result(m) for m in found]})
