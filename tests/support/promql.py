"""PromQL helpers: Grafana variable substitution and selector extraction (promql-parser)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import promql_parser

# What Grafana puts in place of its built-in variables, with values valid for a
# Prometheus that scrapes every minute. `account` gets a sentinel regex so tests can
# tell a selector filtered by the variable from one filtered by a literal.
ACCOUNT_SENTINEL = "__kb4_account_variable__"
DEFAULT_SUBSTITUTIONS: Mapping[str, str] = {
    "__rate_interval": "4m",
    "__interval": "1m",
    "__range": "1d",
    "__range_s": "86400",
    "account": ACCOUNT_SENTINEL,
}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


class UnknownVariableError(ValueError):
    """A query uses a template variable the substitution table does not know."""


def substitute_variables(expr: str, values: Mapping[str, str] = DEFAULT_SUBSTITUTIONS) -> str:
    """Replace $var and ${var} as Grafana would; unknown variables raise."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise UnknownVariableError(f"no value for ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def vector_selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector in a PromQL expression, those inside range selectors too."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    return {selector.name for selector in vector_selectors(expr) if selector.name}


def label_matcher(
    selector: promql_parser.VectorSelector, label: str
) -> tuple[promql_parser.MatchOp, str] | None:
    """(operator, value) of the selector's matcher on `label`, or None."""
    for matcher in selector.matchers.matchers:
        if matcher.name == label:
            return matcher.op, matcher.value
    return None
