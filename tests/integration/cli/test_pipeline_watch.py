"""``rtad up``'s progress: counts read from a real Redis, first entries, rates."""

from __future__ import annotations

import time

import pytest
import redis
from rich.console import Console

from rtad.cli.pipeline_watch import PipelineWatch, entries_added
from rtad.common.encoding import encode
from rtad.common.streams import StreamNames

pytestmark = pytest.mark.redis


def add(client: redis.Redis, names: StreamNames, kind: str, n: int) -> None:
    for i in range(n):
        client.xadd(names.key(kind, i % names.shards), encode({"i": i}))  # type: ignore[arg-type]


def rendered(watch: PipelineWatch) -> str:
    console = Console(width=100, record=True)
    console.print(watch.render())
    return console.export_text()


def test_counts_survive_trimming(redis_client: redis.Redis, names: StreamNames) -> None:
    assert entries_added(redis_client, names, "tx") == 0, "missing streams count 0"
    add(redis_client, names, "tx", 10)
    for key in names.all("tx"):
        redis_client.xtrim(key, maxlen=0)
    assert entries_added(redis_client, names, "tx") == 10


def test_stages_announced_once_in_pipeline_order(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    watch = PipelineWatch(redis_client, names)
    assert watch.sample() == []
    assert "waiting for generator" in rendered(watch)
    add(redis_client, names, "tx", 8)
    assert watch.sample() == ["generator"]
    assert "waiting for Spark's first micro-batch" in rendered(watch)
    add(redis_client, names, "features", 8)
    add(redis_client, names, "scores", 8)
    assert watch.sample() == ["spark", "scorer"]
    assert watch.sample() == []
    assert watch.scoring
    assert "waiting" not in rendered(watch)
    assert set(watch.first_seen) == {"generator", "spark", "scorer"}
    add(redis_client, names, "deadletter", 1)
    assert watch.sample() == ["dead letters"]


def test_rate_over_frequent_samples(redis_client: redis.Redis, names: StreamNames) -> None:
    watch = PipelineWatch(redis_client, names)
    assert watch.rate("generator") == 0
    for _ in range(8):  # 20 entries every 0.25 s: 80 per second
        add(redis_client, names, "tx", 20)
        watch.sample()
        time.sleep(0.25)
    assert 55 < watch.rate("generator") < 100
    assert watch.rate("spark") == 0
    assert "160" in rendered(watch)
