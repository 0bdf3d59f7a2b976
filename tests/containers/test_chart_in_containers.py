"""The chart's workloads as real containers: probes, the pipeline end to end, scaling,
graceful stops, ``helm test`` and the shipped dashboards and alerts against Prometheus.

The tests run in order against one release (module fixture ``running``).
"""

from __future__ import annotations

from typing import Any

import pytest

from rtad.common.encoding import decode
from tests.containers.checks import (
    assert_exactly_once,
    count,
    give_verdicts,
    pending_of,
    scored_ids,
)
from tests.containers.deployment import SCRAPE_INTERVAL, Deployment, wait_for
from tests.containers.lag import offset_lag, redis_lag
from tests.containers.probes import probes_of
from tests.containers.prometheus import Prometheus
from tests.containers.quantity import seconds
from tests.containers.queries import dashboard_queries, rule_queries
from tests.containers.spark_api import active_executors

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(1500)]


def test_every_readiness_and_liveness_probe_passes(running: Deployment) -> None:
    checked = []
    for pod, runs in running.cluster.pods.items():
        for run in runs:
            for kind, probe in probes_of(run).items():
                if kind == "startupProbe":
                    continue
                result = running.cluster.probes.check(run, probe)
                assert result.ok, f"{pod} {kind}: {result.detail}"
                checked.append(f"{pod} {kind}")
    assert {c.split()[-1] for c in checked} == {"readinessProbe", "livenessProbe"}, checked
    assert running.cluster.liveness.restarts == []


def test_generated_transactions_reach_scores_and_alerts(running: Deployment) -> None:
    assert running.redis is not None and running.audit is not None
    wait_for(lambda: count(running, "scores") >= 500, 240, "500 scores", running.cluster)
    wait_for(lambda: count(running, "alerts") >= 1, 120, "an alert", running.cluster)
    scored = scored_ids(running)
    assert set(scored) <= set(running.audit.seen), "a score of a transaction never written"
    assert max(scored.values()) == 1, "a transaction scored twice"
    client: Any = running.redis
    alerted = [
        decode(fields)["transaction_id"]
        for key in running.names.all("alerts")
        for _id, fields in client.xrange(key)
    ]
    assert alerted and set(alerted) <= set(running.audit.seen)


def test_a_third_worker_joins_the_running_job_and_leaves_it(running: Deployment) -> None:
    cluster, workers = running.cluster, running.workload("spark-worker")
    wait_for(lambda: active_executors(running) == 2, 120, "2 executors", cluster)
    third = cluster.start(workers, index=workers.replicas)
    wait_for(lambda: active_executors(running) == 3, 180, "3 executors", cluster)
    scored_before = count(running, "scores")
    wait_for(lambda: count(running, "scores") > scored_before + 200, 120, "scores on 3", cluster)
    stopped = cluster.delete(third)
    assert stopped.seconds < cluster.pods["rtad-spark-worker-0"][0].grace_seconds
    wait_for(lambda: active_executors(running) == 2, 180, "back to 2 executors", cluster)
    assert assert_exactly_once(running) > 0


def test_the_helm_test_pod_succeeds(running: Deployment) -> None:
    (hook,) = running.release.tests.values()
    code, output = running.cluster.run_to_completion(hook)
    assert code == 0, output
    assert "/readyz 200" in output


@pytest.mark.parametrize("pod", ["rtad-spark-driver-0", "rtad-scorer-1"])
def test_sigterm_within_the_grace_period_then_restart_loses_nothing(
    running: Deployment, pod: str
) -> None:
    cluster = running.cluster
    before = count(running, "scores")
    wait_for(lambda: count(running, "scores") > before + 200, 120, "scores flowing", cluster)
    grace = cluster.pods[pod][0].grace_seconds
    stopped = cluster.stop(pod)
    left_pending = pending_of(running, pod) if "scorer" in pod else 0
    assert stopped.seconds < grace, f"{pod} needed SIGKILL after {grace}s:\n{stopped.logs}"
    assert stopped.exit_code != 137, stopped.logs
    cluster.restart(pod, ready_timeout=240)
    after = count(running, "scores")
    wait_for(lambda: count(running, "scores") > after + 200, 180, "scores after restart", cluster)
    assert assert_exactly_once(running) > 0
    # The scorer finishes, writes and acknowledges its batch on SIGTERM (what its Deployment
    # says); entries it left pending were scored only after another replica claimed them.
    assert left_pending == 0, f"{pod} stopped with {left_pending} entries unacknowledged"


def test_a_restarted_generator_writes_new_transaction_ids(running: Deployment) -> None:
    assert running.audit is not None
    restarted = len(running.cluster.restarts_of("rtad-generator-0"))
    assert restarted >= 1, "the tests before this one restart the generator"
    repeated = [tx for tx, n in running.audit.seen.items() if n > 1]
    assert not repeated, f"{len(repeated)} transaction ids written more than once"


def test_every_dashboard_and_alert_query_returns_data(running: Deployment) -> None:
    prometheus = running.prometheus
    assert prometheus is not None
    assert running.release.monitors and running.release.rules, "no monitor or rule rendered"
    expected = {"rtad-generator-0", "rtad-spark-driver-0", "rtad-scorer-0", "rtad-scorer-1"}

    def scraped_up() -> set[str]:
        targets = prometheus.api("targets")["activeTargets"]
        for target in targets:
            assert {"job", "namespace", "pod", "container", "endpoint"} <= set(target["labels"])
        return {t["labels"]["pod"] for t in targets if t["health"] == "up"}

    # A pod restarted by the test before stays "down" until its next scrape.
    wait_for(lambda: expected <= scraped_up(), 60, "every metrics pod scraped", running.cluster)
    interval = f"{4 * seconds(SCRAPE_INTERVAL)}s"  # Grafana's floor for $__rate_interval
    queries = dashboard_queries(running.release.namespace, interval)
    queries += rule_queries([g for r in running.release.rules for g in r["spec"]["groups"]])
    assert len(queries) > 20
    # The quality panels read what analysts' verdicts taught the scorers.
    given = give_verdicts(running)
    assert given["analyst fraud"] > 0 and given["chargeback"] > 0, given
    unhealthy = [
        f"{rule['name']}: {rule.get('lastError')}"
        for group in prometheus.api("rules")["groups"]
        for rule in group["rules"]
        if rule["health"] not in ("ok", "unknown")  # unknown: not evaluated yet
    ]
    assert not unhealthy
    empty = {q.source: q.promql for q in queries}
    try:
        wait_for(lambda: not _still_empty(prometheus, empty), 90, "data", running.cluster)
    except AssertionError as exc:
        lines = "".join(f"\n  {source}: {promql}" for source, promql in empty.items())
        raise AssertionError(
            f"{len(empty)} of {len(queries)} queries return nothing:{lines}"
        ) from exc


def _still_empty(prometheus: Prometheus, pending: dict[str, str]) -> dict[str, str]:
    for source, promql in list(pending.items()):
        if prometheus.query(promql):
            del pending[source]
    return pending


def test_with_two_scorers_the_lag_panel_equals_the_lag_redis_reports(
    running: Deployment,
) -> None:
    assert running.redis is not None and running.prometheus is not None
    client, prometheus = running.redis, running.prometheus
    (panel,) = [
        q
        for q in dashboard_queries(running.release.namespace, "20s")
        if "rtad_scorer_consumer_lag_entries" in q.promql
    ]
    assert len(running.cluster.pods_of("rtad-scorer")) == 2
    offset_lag(client, running.names, {s: 100 * (s + 1) for s in range(running.names.shards)})
    last: dict[int, float] = {}

    def panel_matches_redis() -> bool:
        nonlocal last
        shown = prometheus.query(panel.promql)
        last = {int(r["metric"]["shard"]): float(r["value"][1]) for r in shown}
        return last == {s: float(v) for s, v in redis_lag(client, running.names).items()}

    try:
        wait_for(panel_matches_redis, 60, "the lag panel to show Redis' lag", running.cluster)
    except AssertionError as exc:
        reported = redis_lag(client, running.names)
        raise AssertionError(f"{panel.source}: panel {last}, XINFO GROUPS {reported}") from exc


def test_no_liveness_probe_reached_its_failure_threshold_during_the_run(
    running: Deployment,
) -> None:
    """The kubelet would have restarted these containers: the run above had none."""
    assert running.cluster.liveness.checks > 0
    assert running.cluster.liveness.restarts == []
