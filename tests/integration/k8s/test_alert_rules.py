"""The chart's alerting rules and the dashboards' PromQL, checked by the real promtool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.k8s.helm import CHART, prometheus_rule_groups, promtool, render, run
from tests.unit.k8s.metric_names import exposed_names, used_names

pytestmark = pytest.mark.k8s

HERE = Path(__file__).parent


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    """The rendered PrometheusRule as a Prometheus rule file, beside the unit tests."""
    path = tmp_path / "rtad-rules.yaml"
    path.write_text(yaml.safe_dump(prometheus_rule_groups(render()), sort_keys=False))
    shutil.copy(HERE / "alert_rules_test.yaml", tmp_path)
    return path


def _alerts() -> list[dict[str, Any]]:
    return [r for g in prometheus_rule_groups(render())["groups"] for r in g["rules"]]


def test_promtool_check_rules(rule_file: Path) -> None:
    out = run([promtool(), "check", "rules", rule_file]).stdout
    assert f"SUCCESS: {len(_alerts())} rules found" in out


def test_promtool_test_rules(rule_file: Path) -> None:
    out = run([promtool(), "test", "rules", "alert_rules_test.yaml"], cwd=rule_file.parent)
    assert "SUCCESS" in out.stdout


def test_every_alert_is_unit_tested_firing() -> None:
    tests = yaml.safe_load((HERE / "alert_rules_test.yaml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    names = {a["alert"] for a in _alerts()}
    assert names == {
        "RtadAnomalyRateHigh",
        "RtadScorerLagGrowing",
        "RtadStreamLagGrowing",
        "RtadThroughputZero",
        "RtadDeadLetterGrowing",
        "RtadAlertPrecisionLow",
    }
    assert fired == names


def test_alerts_use_only_metrics_the_services_expose() -> None:
    exposed = exposed_names()
    for alert in _alerts():
        used = used_names(alert["expr"])
        assert used and used <= exposed, f"{alert['alert']}: {sorted(used - exposed)}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel query, with Grafana's variables filled in, as a recording rule for promtool."""
    rules = []
    for path in sorted((CHART / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", "1m").replace("$namespace", ".*")
                record = f"rtad:dashboard_{path.stem}_{panel['id']}_{target['refId']}"
                rules.append({"record": record, "expr": expr})
    assert rules
    rule_file = tmp_path / "dashboards.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = run([promtool(), "check", "rules", rule_file]).stdout
    assert f"SUCCESS: {len(rules)} rules found" in out


#: Gauges every scorer replica may export with the same group-wide value per shard.
GROUP_GAUGES = (
    "rtad_scorer_consumer_lag_entries",
    "rtad_scorer_pending_entries",
    "rtad_stream_input_lag_entries",
)


def test_dashboard_lag_panels_count_replicas_once(tmp_path: Path) -> None:
    """promtool evaluates every panel query of a group-wide gauge over two replicas that
    export the same per-shard values: each shard reads its value, not twice it."""
    per_shard = {"0": 7, "1": 3}
    series = [
        {"series": f'{gauge}{{namespace="rtad",pod="{pod}",shard="{shard}"}}', "values": f"{v}x5"}
        for gauge in GROUP_GAUGES
        for pod in ("scorer-a", "scorer-b")
        for shard, v in per_shard.items()
    ]
    expected = [
        {"labels": f'{{namespace="rtad",shard="{shard}"}}', "value": v}
        for shard, v in per_shard.items()
    ]
    queries = [
        target["expr"].replace("$namespace", "rtad")
        for path in sorted((CHART / "dashboards").glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
        if used_names(target["expr"]) & set(GROUP_GAUGES)
    ]
    assert len(queries) >= len(GROUP_GAUGES)
    tests = [{"expr": q, "eval_time": "2m", "exp_samples": expected} for q in queries]
    spec = {"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}]}
    (tmp_path / "lag_panels_test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    out = run([promtool(), "test", "rules", "lag_panels_test.yaml"], cwd=tmp_path)
    assert "SUCCESS" in out.stdout
