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
ARGS = ("--master", "local[2]", "--max-records-per-batch", "40")
ARGS += ("--trigger-interval", "200 milliseconds")


def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    before, after = transactions(320, users=30, seed=31), transactions(60, users=30, seed=32)
    produce(redis_client, names, before)
    checkpoint = tmp_path / "checkpoint"
    first = StreamProcess(redis_server.url, checkpoint, tmp_path / "first.log", *ARGS)
    try:
        first.wait_for(lambda: feature_count(redis_client, names) >= 80, 240, "a few batches")
    finally:
        first.crash()  # SIGKILL while batches run back to back
    assert feature_count(redis_client, names) < len(before)
    planned = len(list((checkpoint / "offsets").glob("[0-9]*")))
    committed = len(list((checkpoint / "commits").glob("[0-9]*")))
    assert planned >= committed >= 1

    second = StreamProcess(redis_server.url, checkpoint, tmp_path / "second.log", *ARGS)
    try:
        second.wait_for(
            lambda: (second.metric("rtad_stream_batches_total") or 0) >= 1, 240, "a batch"
        )
        produce(redis_client, names, after)  # records that arrive while it runs
        total = len(before) + len(after)
        second.wait_for(lambda: feature_count(redis_client, names) >= total, 240, "all rows")
        second.wait_for(
            lambda: (second.metric("rtad_stream_rows_out_total") or 0) > 0, 30, "rows_out"
        )
        assert second.terminate() == 0, second.tail()
    finally:
        second.kill_leftovers()
    ids = feature_ids(redis_client, names)
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {tx.transaction_id for tx in before + after}
    assert "Traceback" not in second.tail()
