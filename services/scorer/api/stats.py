"""``GET /v1/stats``: one JSON summary of the pipeline for the live page.

Everything comes from Redis, so any replica answers for the whole deployment: stream
counters (``XINFO STREAM`` entries-added), the scorer group's lag and pending entries, and the
exactly-once counters the workers commit with their scores (:mod:`rtad.scorer.counters`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import redis.asyncio as aioredis

from rtad.common.encoding import as_text
from rtad.common.streams import SCORER_GROUP, StreamNames
from rtad.scorer.counters import BUCKET_S, bucket_key, bucket_start, parse_labels, totals_key
from rtad.scorer.latency import N_BINS, quantile

SERIES_S = 600  # the time series covers the last 10 minutes
LATENCY_WINDOW_S = 60  # "recent" latency percentiles
RATE_WINDOW_S = 10.0  # throughput = growth of entries-added over about this long
CACHE_S = 1.0
STAGES = ("tx", "features", "scores")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class StatsCollector:
    """Builds (and caches for a second) the ``/v1/stats`` document."""

    def __init__(self, client: aioredis.Redis, names: StreamNames) -> None:
        self.client = client
        self.names = names
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=64)
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def snapshot(self, model: dict[str, Any]) -> dict[str, Any]:
        """The document (see ``rtad.scorer.api.routes_ops.stats`` for its shape)."""
        async with self._lock:
            now = time.time()
            if self._cached and now - self._cached[0] < CACHE_S:
                return self._cached[1] | {"model": model}
            doc = await self._build(now)
            self._cached = (now, doc)
            return doc | {"model": model}

    async def _build(self, now: float) -> dict[str, Any]:
        added, consumer = await asyncio.gather(self._entries_added(), self._consumer())
        totals, series, latency = await self._counters(now)
        scored, anomalies = totals.get("scored", 0), totals.get("anomalies", 0)
        return {
            "generated_at": round(now, 3),
            "totals": {
                "scored": scored,
                "anomalies": anomalies,
                "anomaly_rate": anomalies / scored if scored else 0.0,
            },
            "throughput": self._throughput(now, added),
            "latency_ms": {
                "p50": _ms(quantile(latency, 0.5)),
                "p99": _ms(quantile(latency, 0.99)),
                "window_s": LATENCY_WINDOW_S,
            },
            "consumer": consumer,
            "series": {"bucket_s": BUCKET_S, "points": series},
            "scenarios": _scenarios(parse_labels(totals)),
        }

    async def _entries_added(self) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        keys = [(stage, key) for stage in STAGES for key in self.names.all(stage)]  # type: ignore[arg-type]
        for _stage, key in keys:
            pipe.xinfo_stream(key)
        replies = await pipe.execute(raise_on_error=False)
        added = dict.fromkeys(STAGES, 0)
        for (stage, _key), reply in zip(keys, replies, strict=True):
            if isinstance(reply, dict):  # a missing stream answers an error: counts as 0
                added[stage] += int(reply.get("entries-added") or reply.get("length") or 0)
        return added

    def _throughput(self, now: float, added: dict[str, int]) -> dict[str, Any]:
        self._samples.append((now, added))
        base_t, base = self._samples[0]
        for t, sample in self._samples:  # the oldest sample within the window
            if now - t <= RATE_WINDOW_S:
                base_t, base = t, sample
                break
        span = now - base_t
        return {
            stage: {
                "entries_added": added[stage],
                "per_s": round((added[stage] - base[stage]) / span, 1) if span > 0.5 else None,
            }
            for stage in STAGES
        }

    async def _consumer(self) -> dict[str, Any]:
        pipe = self.client.pipeline(transaction=False)
        for key in self.names.all("features"):
            pipe.xinfo_groups(key)
        replies = await pipe.execute(raise_on_error=False)
        shards = []
        for shard, groups in enumerate(replies):
            group = (
                next((g for g in groups if as_text(g.get("name")) == SCORER_GROUP), None)
                if isinstance(groups, list)
                else None
            )
            lag = group.get("lag") if group else None
            pending = int(group.get("pending", 0)) if group else 0
            shards.append(
                {"shard": shard, "lag": None if lag is None else int(lag), "pending": pending}
            )
        return {
            "group": SCORER_GROUP,
            "lag": sum(s["lag"] or 0 for s in shards),
            "pending": sum(s["pending"] for s in shards),
            "shards": shards,
        }

    async def _counters(self, now: float) -> tuple[dict[str, int], list[dict[str, Any]], list[int]]:
        last = bucket_start(int(now * 1000))
        starts = list(range(last - SERIES_S + BUCKET_S, last + 1, BUCKET_S))
        pipe = self.client.pipeline(transaction=False)
        for shard in range(self.names.shards):
            pipe.hgetall(totals_key(self.names, shard))
        for start in starts:
            for shard in range(self.names.shards):
                pipe.hgetall(bucket_key(self.names, shard, start))
        replies = await pipe.execute()
        totals: dict[str, int] = {}
        for reply in replies[: self.names.shards]:
            for field, value in reply.items():
                totals[as_text(field)] = totals.get(as_text(field), 0) + int(value)
        series, latency = _series(starts, replies[self.names.shards :], self.names.shards, now)
        return totals, series, latency


def _series(
    starts: list[int], replies: list[Any], shards: int, now: float
) -> tuple[list[dict[str, Any]], list[int]]:
    """Points of the time series, and the latency bins of the last LATENCY_WINDOW_S."""
    points: list[dict[str, Any]] = []
    recent = [0] * N_BINS
    for i, start in enumerate(starts):
        bins = [0] * N_BINS
        scored = anomalies = 0
        for reply in replies[i * shards : (i + 1) * shards]:
            for field, value in reply.items():
                name = as_text(field)
                if name == "scored":
                    scored += int(value)
                elif name == "anomalies":
                    anomalies += int(value)
                elif name.startswith("lat"):
                    bins[int(name[3:])] += int(value)
        if start + BUCKET_S > now - LATENCY_WINDOW_S:
            recent = [a + b for a, b in zip(recent, bins, strict=True)]
        points.append(
            {
                "t": start,
                "scored": scored,
                "anomalies": anomalies,
                "p99_ms": _ms(quantile(bins, 0.99)),
            }
        )
    return points, recent


def _scenarios(labels: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, c in sorted(labels.items()):
        count, detected = c.get("count", 0), c.get("detected", 0)
        rows.append(
            {
                "scenario": scenario,
                "count": count,
                "detected": detected,
                "rate": detected / count if count else 0.0,
            }
        )
    return rows
