"""The backlog gauge reads Redis at scrape time and never breaks a scrape."""

from __future__ import annotations

import math

import redis
from prometheus_client import REGISTRY, generate_latest

from rtad.generator import metrics


def test_an_unreachable_redis_makes_the_backlog_unknown_not_the_scrape_fail() -> None:
    def xlen(shard: int) -> int:
        if shard == 1:
            raise redis.ConnectionError("Connection refused")
        return 7 * shard

    metrics.watch_backlog(2, xlen)
    text = generate_latest(REGISTRY).decode()
    assert 'rtad_generator_backlog_entries{shard="0"} 0.0' in text
    value = REGISTRY.get_sample_value("rtad_generator_backlog_entries", {"shard": "1"})
    assert value is not None and math.isnan(value)
    metrics.watch_backlog(2, lambda shard: 0)  # leave a harmless reader behind
