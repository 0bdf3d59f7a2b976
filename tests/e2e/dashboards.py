"""The PromQL queries of the shipped Grafana dashboards, and whether Prometheus has their data."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

#: Grafana's built-in interval variables. ``$__rate_interval`` is at least four times the
#: scrape interval Grafana assumes for a data source (15 s unless set): 1m.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries(folder: Path) -> list[tuple[str, str]]:
    """``(dashboard / panel title, PromQL)`` of every panel target, variables substituted.

    A dashboard's own template variables (``$namespace``...) become ``.*``, as Grafana's
    "All" does; in local mode the series have no such label, and ``.*`` matches its absence.
    """
    queries = []
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text())
        variables = [v["name"] for v in dashboard.get("templating", {}).get("list", [])]
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr:
                    title = f"{path.stem} / {panel.get('title', '?')}"
                    queries.append((title, substitute(expr, variables)))
    return queries


def substitute(expr: str, variables: list[str]) -> str:
    """Replace ``$name``, ``${name}`` and ``[[name]]`` by their test values.

    >>> substitute('rate(x{ns=~"$namespace"}[$__rate_interval])', ["namespace"])
    'rate(x{ns=~".*"}[1m])'
    """
    values = dict(BUILTINS) | {name: ".*" for name in variables}
    pattern = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        assert name in values, f"unknown dashboard variable ${name} in {expr}"
        return values[name]

    return pattern.sub(value, expr)


def query_has_data(prometheus_url: str, expr: str) -> bool:
    """True when an instant query returns at least one finite sample."""
    response = httpx.get(f"{prometheus_url.rstrip('/')}/api/v1/query", params={"query": expr})
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body}"
    result = body["data"]["result"]
    values = [float(item["value"][1]) for item in result] if isinstance(result, list) else []
    return any(math.isfinite(v) for v in values)
