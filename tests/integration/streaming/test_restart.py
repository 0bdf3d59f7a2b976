"""Crash and restart: ``rtad stream`` killed with SIGKILL mid-run resumes from its checkpoint
with no feature row lost or doubled; SIGTERM then stops it cleanly (exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames

from .jobproc import StreamProcess, feature_count, feature_ids
from .txdata import produce, transactions

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.slow]


def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    records = transactions(1200, users=40, seed=31)
    produce(redis_client, names, records)
    checkpoint = tmp_path / "checkpoint"
    args = ("--master", "local[2]", "--max-records-per-batch", "60")
    args += ("--trigger-interval", "200 milliseconds")
    first = StreamProcess(redis_server.url, checkpoint, tmp_path / "first.log", *args)
    try:
        first.wait_for(lambda: feature_count(redis_client, names) >= 120, 240, "a few batches")
        first.wait_for(lambda: (first.metric("rtad_stream_batches_total") or 0) >= 1, 30, "metric")
    finally:
        first.crash()
    assert feature_count(redis_client, names) < len(records)  # killed mid-run

    second = StreamProcess(redis_server.url, checkpoint, tmp_path / "second.log", *args)
    try:
        second.wait_for(
            lambda: feature_count(redis_client, names) >= len(records), 240, "every feature row"
        )
        second.wait_for(
            lambda: (second.metric("rtad_stream_rows_out_total") or 0) > 0, 30, "rows_out metric"
        )
        assert second.terminate() == 0, second.tail()
    finally:
        second.kill_leftovers()
    ids = feature_ids(redis_client, names)
    assert len(ids) == len(set(ids)) == len(records)
    assert set(ids) == {tx.transaction_id for tx in records}
    assert "Traceback" not in second.tail()
