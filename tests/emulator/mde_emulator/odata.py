# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn an OData $filter into a SQLite WHERE clause with odata-query.

Only the documented filterable properties are accepted (names compared case-insensitively, so
camelCase and PascalCase both work). ``machineTags/any(t: t eq 'x')`` lambdas, which the stock
visitor cannot translate, become an EXISTS sub-query on the machine_tags table. Date/time literals
become the same normalized UTC text that the datetime columns hold.
"""

from __future__ import annotations

from odata_query import ast
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.sql import AstToSqliteSqlVisitor

from .util import normalize_ts

# entity -> {lower-case property name: column name}
FILTERABLE = {
    "MachineActions": {
        name.lower(): name for name in ("id", "status", "machineId", "type", "requestor", "creationDateTimeUtc")
    },
    "Machines": {
        name.lower(): name
        for name in (
            "computerDnsName", "id", "version", "deviceValue", "aadDeviceId", "machineTags", "lastSeen",
            "exposureLevel", "onboardingStatus", "lastIpAddress", "healthStatus", "osPlatform", "riskScore",
            "rbacGroupId",
        )
    },
}
COLLECTIONS = {"Machines": {"machineTags": ("machine_tags", "tag", "machine_id")}}
STRING_FUNCTIONS = ("startswith", "endswith", "contains", "tolower", "toupper")
TABLE_ALIAS = "t"


class FilterError(Exception):
    """The $filter is not valid for this entity (answered as 400 ODataError)."""


def _like_literal(value):
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("'", "''")


class _Visitor(AstToSqliteSqlVisitor):
    """AstToSqliteSqlVisitor restricted to the documented properties, plus any()/all() on machineTags."""

    def __init__(self, entity):
        super().__init__(table_alias=TABLE_ALIAS)
        self.entity = entity
        self.lambda_vars = {}

    def visit_Identifier(self, node):
        if not node.namespace and node.name in self.lambda_vars:
            return self.lambda_vars[node.name]
        column = FILTERABLE[self.entity].get(node.name.lower())
        if node.namespace or column is None:
            raise FilterError("Could not find a property named '%s' on type '%s', or it is not filterable."
                              % (node.full_name(), self.entity[:-1]))
        if column in COLLECTIONS.get(self.entity, {}):
            raise FilterError("Property '%s' is a collection; use %s/any(...)." % (column, column))
        return '"%s"."%s"' % (TABLE_ALIAS, column)

    def visit_Attribute(self, node):
        raise FilterError("Navigation or complex property paths are not supported in $filter.")

    def visit_DateTime(self, node):
        return "'%s'" % normalize_ts(node.val)

    def visit_Date(self, node):
        return "'%s'" % normalize_ts(node.val)

    def visit_Call(self, node):
        if node.func.name.lower() not in STRING_FUNCTIONS:
            raise FilterError("Function '%s' is not supported in $filter." % node.func.name)
        return super().visit_Call(node)

    def _like(self, args, prefix, suffix):
        if len(args) != 2:
            raise FilterError("Wrong number of arguments.")
        left = self.visit(args[0])
        if isinstance(args[1], ast.String):
            return "%s LIKE '%s%s%s' ESCAPE '\\'" % (left, prefix, _like_literal(args[1].val), suffix)
        right = self.visit(args[1])
        return "%s LIKE %s%s%s ESCAPE '\\'" % (
            left, "'%' || " if prefix else "", right, " || '%'" if suffix else "")

    def sqlfunc_startswith(self, *args):
        return self._like(args, "", "%")

    def sqlfunc_endswith(self, *args):
        return self._like(args, "%", "")

    def sqlfunc_contains(self, *args):
        return self._like(args, "%", "%")

    def visit_CollectionLambda(self, node):
        if not isinstance(node.owner, ast.Identifier) or node.owner.namespace:
            raise FilterError("Lambda operators need a collection property.")
        column = FILTERABLE[self.entity].get(node.owner.name.lower())
        collection = COLLECTIONS.get(self.entity, {}).get(column)
        if collection is None:
            raise FilterError("Property '%s' is not a filterable collection." % node.owner.name)
        table, value_col, fk_col = collection
        sub_alias = "c%d" % len(self.lambda_vars)
        base = 'SELECT 1 FROM %s AS %s WHERE %s."%s" = "%s"."id"' % (table, sub_alias, sub_alias, fk_col, TABLE_ALIAS)
        if node.lambda_ is None:
            if isinstance(node.operator, ast.All):
                raise FilterError("all() needs a lambda expression.")
            return "EXISTS (%s)" % base
        var = node.lambda_.identifier.name
        if var in self.lambda_vars:
            raise FilterError("Lambda variable '%s' is already defined." % var)
        self.lambda_vars[var] = '%s."%s"' % (sub_alias, value_col)
        try:
            expr = self.visit(node.lambda_.expression)
        finally:
            del self.lambda_vars[var]
        if expr is None:
            raise FilterError("Unsupported lambda expression.")
        if isinstance(node.operator, ast.All):
            return "NOT EXISTS (%s AND NOT (%s))" % (base, expr)
        return "EXISTS (%s AND (%s))" % (base, expr)

    def generic_visit(self, node):
        raise FilterError("Unsupported expression in $filter: %s" % type(node).__name__)


def _tokens(text):
    """Lex, turning a date followed directly by 'Z' (e.g. ``2018-08-01Z``, used in Microsoft's
    documentation) into a midnight UTC datetime literal."""
    tokens = list(ODataLexer().tokenize(text))
    out = []
    idx = 0
    while idx < len(tokens):
        tok = tokens[idx]
        nxt = tokens[idx + 1] if idx + 1 < len(tokens) else None
        if (tok.type == "DATE" and nxt is not None and nxt.type == "ODATA_IDENTIFIER"
                and nxt.value.name in ("Z", "z") and nxt.index == tok.index + len(tok.value.val)):
            tok.type = "DATETIME"
            tok.value = ast.DateTime(val=tok.value.val + "T00:00:00Z")
            idx += 1
        out.append(tok)
        idx += 1
    return iter(out)


def filter_to_sql(text, entity):
    """Return the SQL WHERE expression for ``$filter=text`` on ``entity`` (MachineActions or Machines).

    Raises FilterError with a message for the ODataError envelope.
    """
    if not text or not text.strip():
        raise FilterError("The $filter query option is empty.")
    try:
        tree = ODataParser().parse(_tokens(text))
    except FilterError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise FilterError("Syntax error in $filter '%s': %s" % (text, exc)) from exc
    if tree is None:
        raise FilterError("Syntax error in $filter '%s'." % text)
    try:
        sql = _Visitor(entity).visit(tree)
    except FilterError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise FilterError("The $filter '%s' is not supported: %s" % (text, exc)) from exc
    if not sql:
        raise FilterError("The $filter '%s' is not supported." % text)
    return sql
