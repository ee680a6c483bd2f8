# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An HTTPS emulator of the Microsoft Defender for Endpoint machine-actions API and Entra ID."""

from __future__ import annotations

__version__ = "1.0.0"
