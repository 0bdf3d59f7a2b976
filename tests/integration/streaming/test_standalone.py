"""Scale-out on a real standalone cluster (the local twin of ``kubectl scale statefulset
…-spark-worker``): a worker added while ``rtad stream`` runs becomes an executor of the running
job, and no record is lost or doubled."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from tests.spark_standalone import StandaloneCluster

from .jobproc import StreamProcess, feature_count, feature_ids
from .txdata import produce, transactions

pytestmark = [pytest.mark.spark, pytest.mark.redis, pytest.mark.slow]


def test_second_worker_joins_the_running_job_without_losing_records(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RTAD_DRIVER_HOST", "127.0.0.1")
    monkeypatch.setenv("RTAD_EXECUTOR_MEMORY", "512m")
    first, second = transactions(200, users=20, seed=41), transactions(200, users=20, seed=42)
    produce(redis_client, names, first)
    with StandaloneCluster(tmp_path / "cluster") as cluster:
        master = cluster.start_master()
        cluster.add_worker(cores=1, memory="1g")
        args = ("--master", master, "--max-records-per-batch", "100")
        args += ("--trigger-interval", "500 milliseconds")
        job = StreamProcess(redis_server.url, tmp_path / "checkpoint", tmp_path / "job.log", *args)
        try:
            job.wait_for(lambda: feature_count(redis_client, names) >= 100, 240, "first rows")
            job.wait_for(lambda: job.metric("rtad_stream_executors") == 1, 60, "one executor")
            cluster.add_worker(cores=1, memory="1g")  # kubectl scale … --replicas=2
            produce(redis_client, names, second)
            job.wait_for(lambda: job.metric("rtad_stream_executors") == 2, 120, "two executors")
            total = len(first) + len(second)
            job.wait_for(lambda: feature_count(redis_client, names) >= total, 240, "all rows")
            assert job.terminate() == 0, job.tail()
        finally:
            job.kill_leftovers()
        apps = (cluster.state() or {}).get("completedapps", []) + (cluster.state() or {}).get(
            "activeapps", []
        )
        assert any(app.get("name") == "rtad-stream" for app in apps)
    ids = feature_ids(redis_client, names)
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {tx.transaction_id for tx in first + second}
