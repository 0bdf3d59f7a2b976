"""Every PromQL query the chart ships: dashboard panels and alert rules, made runnable.

Dashboards use Grafana's variables: ``$__rate_interval`` becomes four scrape intervals
(Grafana's own floor for it), ``$namespace`` the release namespace, any other template
variable ``.*``. An alert's expression is checked for data without its final threshold
(``> 0.05``): a rule that is not firing must still find the series it compares.

>>> without_thresholds('sum(x{a="1"}) > 10000 and deriv(y[5m]) > 0')
'sum(x{a="1"}) and deriv(y[5m])'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containers.chart import CHART

DASHBOARDS = CHART / "dashboards"
_THRESHOLD = re.compile(r"\s*(?:>=|<=|==|!=|>|<)\s*(?:bool\s+)?[-+]?[0-9][0-9.eE+-]*(?![\w(])")
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


@dataclass(frozen=True)
class Query:
    source: str  # "pipeline.json: Anomaly rate" or "alert RtadAnomalyRateHigh"
    promql: str


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out += _panels(panel.get("panels", []))
    return out


def dashboard_queries(namespace: str, rate_interval: str) -> list[Query]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    expr = substitute(target["expr"], namespace, rate_interval)
                    out.append(Query(f"{Path(path).name}: {panel.get('title')}", expr))
    return out


def substitute(expr: str, namespace: str, rate_interval: str) -> str:
    for name in ("${__rate_interval}", "$__rate_interval"):
        expr = expr.replace(name, rate_interval)

    def value(match: re.Match[str]) -> str:
        return namespace if match.group(1) == "namespace" else ".*"

    return _VARIABLE.sub(value, expr)


def without_thresholds(expr: str) -> str:
    return _THRESHOLD.sub("", " ".join(expr.split()))


def rule_queries(groups: list[dict[str, Any]]) -> list[Query]:
    out = []
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            out.append(Query(f"alert {name}", without_thresholds(rule["expr"])))
    return out
