"""The PromQL of the Grafana dashboards (deploy/grafana/dashboards), ready for a plain Prometheus.

Grafana rewrites a query before it reaches Prometheus: its macros
(``$__rate_interval``, ``$__interval``, ``$__range``) and the dashboard's
variables. :func:`dashboard_queries` does the same with fixed values, so the
contract tests can parse every expression with promtool and the monitoring
test can evaluate each against a live Prometheus:

- macros: ``$__rate_interval`` → ``1m``, ``$__interval`` → ``30s``,
  ``$__range`` → ``5m`` (and their ``_ms``/``_s`` forms);
- a variable inside a label matcher's quoted value → ``.*`` (``=`` and ``!=``
  become ``=~`` and ``!~``, so the value is read as the regex it now is);
- a variable anywhere else → its default (the current value, else its first
  option or the first value of its query).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

MACROS = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__interval_ms": "30000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
ANY = ".*"

# $name, ${name}, ${name:format}, [[name]], [[name:format]]
_VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::[^}]*)?\}|\[\[(?P<bracketed>\w+)(?::[^\]]*)?\]\]|\$(?P<plain>\w+)"
)
# A label matcher whose value is one double-quoted string: name, operator, value.
_MATCHER = re.compile(r'(?P<name>\b[a-zA-Z_]\w*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a dashboard is a JSON object")
    return document


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows (collapsed ones keep theirs in ``panels``) included."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels") or [])


def is_prometheus(target: dict[str, Any], panel: dict[str, Any]) -> bool:
    datasource = target.get("datasource") or panel.get("datasource")
    if isinstance(datasource, dict):
        return datasource.get("type") == "prometheus" or datasource.get("uid") == "prometheus"
    return isinstance(datasource, str) and "prometheus" in datasource.lower()


def variable_defaults(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable's default value (``""`` when it has none)."""
    defaults: dict[str, str] = {}
    for variable in (dashboard.get("templating") or {}).get("list", []):
        defaults[variable["name"]] = _default(variable)
    return defaults


def _default(variable: dict[str, Any]) -> str:
    value = (variable.get("current") or {}).get("value")
    if isinstance(value, list):
        value = value[0] if value else None
    if value == "$__all":
        return str(variable.get("allValue") or ANY)
    if value not in (None, ""):
        return str(value)
    for option in variable.get("options") or []:
        if option.get("value") not in (None, ""):
            return str(option["value"])
    query = variable.get("query")
    if isinstance(query, str) and query and variable.get("type") in ("custom", "interval", "constant"):
        return query.split(",")[0].strip()
    return ""


def substitute(expr: str, defaults: dict[str, str]) -> str:
    """``expr`` with Grafana's macros and the dashboard's variables replaced (see the module)."""

    def in_matcher(match: re.Match[str]) -> str:
        value = match["value"]
        if not _has_variable(value, defaults):
            return match[0]
        op = {"=": "=~", "!=": "!~"}.get(match["op"], match["op"])
        return f'{match["name"]}{op}"{_replace(value, defaults, ANY)}"'

    expr = _MATCHER.sub(in_matcher, expr)
    # Elsewhere: defaults. In other quoted strings (label_replace's "$1") only
    # the dashboard's own names are replaced.
    parts: list[str] = []
    last = 0
    for quoted in _QUOTED.finditer(expr):
        parts.append(_replace(expr[last : quoted.start()], defaults, None))
        parts.append(_replace(quoted[0], defaults, None, strict=False))
        last = quoted.end()
    parts.append(_replace(expr[last:], defaults, None))
    return "".join(parts)


def _has_variable(text: str, defaults: dict[str, str]) -> bool:
    return any(_name(m) in MACROS or _name(m) in defaults for m in _VARIABLE.finditer(text))


def _name(match: re.Match[str]) -> str:
    return match["braced"] or match["bracketed"] or match["plain"]


def _replace(text: str, defaults: dict[str, str], variable_value: str | None, strict: bool = True) -> str:
    def one(match: re.Match[str]) -> str:
        name = _name(match)
        if name in MACROS:
            return MACROS[name]
        if name in defaults:
            if variable_value is not None:
                return variable_value
            if not defaults[name]:
                raise ValueError(f"${name} has no default to stand for it outside a label matcher")
            return defaults[name]
        if not strict:
            return match[0]
        if name.startswith("__"):
            raise ValueError(f"unknown Grafana macro ${name}")
        raise ValueError(f"${name} is not a variable of the dashboard")

    return _VARIABLE.sub(one, text)


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every Prometheus target of every dashboard,
    with macros and variables substituted so that Prometheus can evaluate it as is."""
    queries: list[tuple[str, str, str]] = []
    for path in dashboard_files():
        dashboard = load(path)
        defaults = variable_defaults(dashboard)
        for panel in walk_panels(dashboard.get("panels") or []):
            for target in panel.get("targets") or []:
                expr = target.get("expr")
                if not expr or not is_prometheus(target, panel):
                    continue
                queries.append((dashboard["uid"], panel.get("title", ""), substitute(expr, defaults)))
    return queries
