"""The feature sink's per-(query, partition, shard) marker against a real redis-server."""

from __future__ import annotations

import threading

import pytest
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from rtad.streaming.feature_sink import FeatureStreamWriter

pytestmark = pytest.mark.redis


def test_a_replayed_batch_writes_nothing_twice(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})
    payloads = [b'{"n": 1}', b'{"n": 2}']
    assert writer._write_shard(redis_client, 1, payloads, "q:0", batch_id=5)
    assert not writer._write_shard(redis_client, 1, payloads, "q:0", batch_id=5)  # replay
    assert writer._write_shard(redis_client, 1, payloads, "q:0", batch_id=6)  # next batch
    assert writer._write_shard(redis_client, 1, payloads, "q2:0", batch_id=0)  # new checkpoint
    assert redis_client.xlen(names.key("features", 1)) == 6
    assert redis_client.hget(names.meta_key("stream-stats", 1), "rows_out") == b"6"


def test_partitions_writing_one_shard_at_once_all_land(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    """WATCH fires when another partition commits the shared marker: retry, never drop."""
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})

    def task(partition: int) -> None:
        client = redis.Redis.from_url(redis_server.url)
        for batch in range(20):
            writer._write_shard(client, 2, [b"{}"] * 50, f"q:{partition}", batch)
        client.close()

    threads = [threading.Thread(target=task, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_client.xlen(names.key("features", 2)) == 4 * 20 * 50
