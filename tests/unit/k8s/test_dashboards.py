"""The Grafana dashboards shipped in the chart: well-formed, portable, and only real metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.k8s.helm import CHART
from tests.unit.k8s.metric_names import exposed_names, used_names

pytestmark = pytest.mark.k8s

DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
# A range selector written as a fixed window instead of $__rate_interval.
FIXED_WINDOW = re.compile(r"\[\d+[smhdw]\]")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


@pytest.fixture(params=DASHBOARDS, ids=lambda p: p.name)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    path: Path = request.param
    return json.loads(path.read_text())


def test_there_are_dashboards() -> None:
    assert len(DASHBOARDS) >= 2


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), ids


def test_uids_are_unique_across_dashboards() -> None:
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


def test_queries_go_through_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_rates_use_rate_interval(dashboard: dict[str, Any]) -> None:
    for expr in exprs(dashboard):
        assert not FIXED_WINDOW.search(expr), expr
        if "rate(" in expr or "increase(" in expr:
            assert "[$__rate_interval]" in expr, expr


def test_every_metric_in_the_queries_is_exposed_by_a_service(dashboard: dict[str, Any]) -> None:
    exposed = exposed_names()
    for expr in exprs(dashboard):
        used = used_names(expr)
        assert used, f"no rtad metric in {expr}"
        assert used <= exposed, f"{sorted(used - exposed)} not exposed by any metrics.py: {expr}"


def test_the_pipeline_dashboard_covers_the_operators_questions() -> None:
    text = " ".join(exprs(json.loads((CHART / "dashboards" / "pipeline.json").read_text())))
    text += " ".join(exprs(json.loads((CHART / "dashboards" / "spark.json").read_text())))
    for metric in (
        "rtad_generator_records_sent_total",  # throughput per stage
        "rtad_stream_rows_out_total",
        "rtad_scorer_transactions_scored_total",
        "rtad_scorer_anomalies_total",  # anomaly rate, overall and per reason
        "rtad_scorer_end_to_end_latency_seconds_bucket",  # p50 / p99
        "rtad_scorer_consumer_lag_entries",
        "rtad_scorer_deadletter_total",
        "rtad_stream_batch_duration_seconds_bucket",
        "rtad_stream_executors",
    ):
        assert metric in text, metric
    assert "sum by (reason)" in text
    assert "histogram_quantile(0.99" in text and "histogram_quantile(0.50" in text
