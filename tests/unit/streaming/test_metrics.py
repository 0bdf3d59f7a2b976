"""The job's metrics: names and buckets as the BRIEF says, and promtool accepts them."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rtad.streaming import metrics

EXPECTED = {
    "rtad_stream_rows_in",
    "rtad_stream_rows_out",
    "rtad_stream_batches",
    "rtad_stream_batch_duration_seconds",
    "rtad_stream_state_rows",
    "rtad_stream_input_lag_entries",
    "rtad_stream_deadletter",
    "rtad_stream_executors",
}


def exposition() -> bytes:
    registry = CollectorRegistry()
    for metric in (
        metrics.ROWS_IN, metrics.ROWS_OUT, metrics.BATCHES, metrics.BATCH_DURATION,
        metrics.STATE_ROWS, metrics.INPUT_LAG, metrics.DEADLETTER, metrics.EXECUTORS,
    ):  # fmt: skip
        registry.register(metric)
    metrics.INPUT_LAG.labels(shard="0").set(3)
    metrics.BATCH_DURATION.observe(0.7)
    return generate_latest(registry)


def test_every_metric_of_the_brief_is_exported() -> None:
    text = exposition().decode()
    families = text_string_to_metric_families(text)
    names = {f.name for f in families if not f.name.endswith("_created")}
    assert names == EXPECTED
    assert 'rtad_stream_input_lag_entries{shard="0"} 3.0' in text
    assert 'rtad_stream_batch_duration_seconds_bucket{le="1.0"}' in text


def test_promtool_accepts_the_exposition() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing: apt-get install prometheus (the CI installs it)")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
