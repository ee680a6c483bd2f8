# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The one exception type every layer raises; modules turn it into fail_json()."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class MdeError(Exception):
    """A failure with a message that says what to do.

    ``status``, ``error_code``, ``error_message`` and ``correlation_id`` are set where a
    server (the MDE API or Entra ID) answered. ``kind`` lets callers branch without
    matching on text: ``config`` (bad input, nothing was sent), ``api`` (an error answer),
    ``auth`` (Entra ID refused), ``transport`` (no usable answer), ``timeout`` (a bound ran out).
    ``maybe_sent`` is true when a request may have reached the server before the
    connection broke (a launching POST must then be looked for, never resent blindly).
    """

    def __init__(self, msg, kind='api', status=None, error_code=None, error_message=None,
                 correlation_id=None, maybe_sent=False, details=None):
        super(MdeError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.correlation_id = correlation_id
        self.maybe_sent = maybe_sent
        self.details = details or {}

    def result(self):
        """The keys a failed task returns, without empty ones."""
        out = {'msg': self.msg}
        for key in ('status', 'error_code', 'error_message', 'correlation_id'):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.details)
        return out


def config_error(msg):
    """Bad input detected before any request was sent."""
    return MdeError(msg, kind='config')


def join_sentences(msg, extra=''):
    """Append a sentence to a message that may or may not end with a full stop, with exactly one between them.

    Every message that puts a sentence after text from elsewhere (an API or Entra ID message, an exception)
    joins through here, so a text that already ends in a full stop does not give "..". With no ``extra``,
    the message is ended with one full stop.
    """
    base = msg.rstrip().rstrip('.')
    return '%s. %s' % (base, extra) if extra else base + '.'
