"""The obvious alternative to rtad, as a benchmark baseline: one Python process.

redis-py reads the input streams, per-card features live in dicts, an Isolation Forest scores
each batch, scores go back with a pipelined XADD. No Spark, no consumer group, no state that
survives a crash: what a team would write first. ``make bench`` runs it on the same data and
broker as the pipeline, in the same run.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import orjson
import redis
from sklearn.ensemble import IsolationForest

from rtad.common.encoding import DATA_FIELD, encode
from rtad.common.streams import StreamNames
from rtad.generator.geo import distance_km


@dataclass
class _Card:
    n: int = 0
    mean: float = 0.0
    last_t: float = 0.0
    last_lat: float = 0.0
    last_lon: float = 0.0
    recent: deque[float] = field(default_factory=deque)


class DictFeatures:
    """Per-card running features in plain dicts: the hand-written version."""

    def __init__(self) -> None:
        self.cards: dict[str, _Card] = {}

    def row(self, tx: dict) -> list[float]:
        t = datetime.fromisoformat(tx["timestamp"]).timestamp()
        card = self.cards.setdefault(tx["user_id"], _Card())
        amount = float(tx["amount"])
        ratio = amount / card.mean if card.n else 1.0
        gap = t - card.last_t if card.n else 86400.0
        dist = (
            distance_km(card.last_lat, card.last_lon, tx["latitude"], tx["longitude"])
            if card.n
            else 0.0
        )
        while card.recent and card.recent[0] < t - 3600:
            card.recent.popleft()
        card.recent.append(t)
        card.n += 1
        card.mean += (amount - card.mean) / card.n
        card.last_t, card.last_lat, card.last_lon = t, tx["latitude"], tx["longitude"]
        speed = dist / max(gap / 3600, 1 / 60)
        return [math.log1p(amount), ratio, math.log1p(max(gap, 0)), dist, speed, len(card.recent)]


def fit_baseline(records: list[dict], seed: int = 0) -> IsolationForest:
    """An Isolation Forest on the dict features of the first records."""
    features = DictFeatures()
    matrix = np.array([features.row(tx) for tx in records])
    return IsolationForest(n_estimators=100, random_state=seed).fit(matrix)


def run_baseline(
    client: redis.Redis,
    names: StreamNames,
    model: IsolationForest,
    expected: int,
    out_prefix: str = "baseline",
    timeout: float = 600.0,
) -> dict[str, float]:
    """Score ``expected`` transactions from the input streams; figures of the run."""
    features = DictFeatures()
    cursors = {key: "0-0" for key in names.all("tx")}
    out = StreamNames(prefix=out_prefix, shards=names.shards)
    scored, started, deadline = 0, None, time.monotonic() + timeout
    latencies: list[float] = []
    while scored < expected and time.monotonic() < deadline:
        response = client.xread(cursors, count=2000, block=500)
        for key, entries in response or []:
            rows, ids, txs = [], [], []
            for entry_id, fields in entries:
                tx = orjson.loads(fields[DATA_FIELD])
                rows.append(features.row(tx))
                ids.append(entry_id)
                txs.append(tx)
            started = started or time.monotonic()
            scores = -model.score_samples(np.array(rows))
            pipe = client.pipeline(transaction=False)
            shard = names.shard_from_key(key)
            now_ms = time.time() * 1000
            for entry_id, tx, score in zip(ids, txs, scores, strict=True):
                pipe.xadd(
                    out.key("scores", shard),
                    encode({"transaction_id": tx["transaction_id"], "score": float(score)}),
                )
                latencies.append(now_ms - int(entry_id.split(b"-")[0]))
            pipe.execute()
            cursors[key.decode() if isinstance(key, bytes) else key] = ids[-1]
            scored += len(ids)
    elapsed = time.monotonic() - (started or time.monotonic())
    lat = np.array(latencies) / 1000 if latencies else np.zeros(1)
    return {
        "scored": scored,
        "seconds": elapsed,
        "tx_per_s": scored / elapsed if elapsed else 0.0,
        "p50_s": float(np.percentile(lat, 50)),
        "p99_s": float(np.percentile(lat, 99)),
    }
