"""The group-wide gauges: one replica at a time exports them, under a lease in a real Redis."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client import REGISTRY

from rtad.common.local_redis import LocalRedis
from rtad.common.redis_streams import GroupReader
from rtad.common.streams import SCORER_GROUP, StreamNames
from rtad.scorer.worker.group_gauges import GroupGauges
from tests.unit.scorer.support import publish

pytestmark = pytest.mark.redis


def _gauges(client: redis.Redis, names: StreamNames, consumer: str) -> GroupGauges:
    reader = GroupReader(client, names, "features", SCORER_GROUP, consumer)
    return GroupGauges(client, reader, period_s=0.2)


def _lag(shard: int) -> float | None:
    return REGISTRY.get_sample_value("rtad_scorer_consumer_lag_entries", {"shard": str(shard)})


def test_one_replica_exports_the_group_gauges_and_hands_over_when_it_stops(
    redis_client: redis.Redis, names: StreamNames, scorer_rows: list[dict]
) -> None:
    first, second = (_gauges(redis_client, names, c) for c in ("replica-a", "replica-b"))
    publish(redis_client, names, scorer_rows[:40])
    assert first.refresh() is True
    assert second.refresh() is False  # the lease is taken: no second copy of the figures
    assert redis_client.get(names.scorer_gauges_lease_key()) == b"replica-a"
    lags = [_lag(shard) for shard in range(names.shards)]
    assert sum(lag or 0 for lag in lags) == 40  # what Redis reports, once
    assert first.refresh() is True  # renewing its own lease
    first.release()
    assert _lag(0) is None  # the series went with the lease
    assert second.refresh() is True
    assert redis_client.get(names.scorer_gauges_lease_key()) == b"replica-b"
    assert sum(_lag(shard) or 0 for shard in range(names.shards)) == 40
    second.release()


def test_a_lease_not_renewed_expires_and_another_replica_takes_it(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    dead, alive = (_gauges(redis_client, names, c) for c in ("dead", "alive"))
    assert dead.refresh() is True
    assert 0 < redis_client.pttl(names.scorer_gauges_lease_key()) <= dead.lease_ms
    assert alive.refresh() is False
    time.sleep(dead.lease_ms / 1000 + 0.2)  # the holder died: nobody renews
    assert alive.refresh() is True
    alive.release()
