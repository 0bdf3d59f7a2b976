"""Scoring counters kept in Redis, written in the same commit script as the scores.

Because they commit atomically with the scores and acknowledgements, they are exactly-once
too, and every replica adds to the same figures: ``/v1/stats`` of any replica shows the whole
deployment. Per shard (so the keys share the shard's Cluster slot):

- ``<prefix>:meta:scorer:{s}`` — hash of totals: ``scored``, ``anomalies``, and per labelled
  fraud scenario ``label:<scenario>:count`` / ``label:<scenario>:detected``;
- ``<prefix>:meta:scorer-ts:<t>:{s}`` — one hash per 5-second bucket starting at epoch second
  ``t``: ``scored``, ``anomalies``, ``lat<i>`` (end-to-end latency bin counts); expires after
  :data:`SERIES_TTL_S`.
"""

from __future__ import annotations

from typing import Any

from rtad.common.streams import StreamNames

BUCKET_S = 5
SERIES_TTL_S = 15 * 60
LABEL_PREFIX = "label:"


def totals_key(names: StreamNames, shard: int) -> str:
    return names.scorer_totals_key(shard)


def bucket_start(now_ms: int) -> int:
    """Epoch second at which the 5-second bucket holding ``now_ms`` starts."""
    return (now_ms // 1000) // BUCKET_S * BUCKET_S


def bucket_key(names: StreamNames, shard: int, start_s: int) -> str:
    return names.scorer_bucket_key(shard, start_s)


def queue_counters(
    pipe: Any,
    names: StreamNames,
    shard: int,
    now_ms: int,
    scored: int,
    anomalies: int,
    latency_counts: Any,
    labelled: dict[tuple[str, bool], int],
) -> None:
    """Queue the HINCRBYs of one shard's batch on ``pipe`` (the commit script gathers them)."""
    totals = totals_key(names, shard)
    pipe.hincrby(totals, "scored", scored)
    if anomalies:
        pipe.hincrby(totals, "anomalies", anomalies)
    for (scenario, detected), n in labelled.items():
        pipe.hincrby(totals, f"{LABEL_PREFIX}{scenario}:count", n)
        if detected:
            pipe.hincrby(totals, f"{LABEL_PREFIX}{scenario}:detected", n)
    bucket = bucket_key(names, shard, bucket_start(now_ms))
    pipe.hincrby(bucket, "scored", scored)
    if anomalies:
        pipe.hincrby(bucket, "anomalies", anomalies)
    for i, n in enumerate(latency_counts.tolist()):
        if n:
            pipe.hincrby(bucket, f"lat{i}", n)
    pipe.expire(bucket, SERIES_TTL_S)


def parse_labels(totals: dict[str, int]) -> dict[str, dict[str, int]]:
    """``{scenario: {"count": n, "detected": k}}`` from the summed totals hash."""
    out: dict[str, dict[str, int]] = {}
    for field, value in totals.items():
        if not field.startswith(LABEL_PREFIX):
            continue
        scenario, _, what = field[len(LABEL_PREFIX) :].rpartition(":")
        out.setdefault(scenario, {"count": 0, "detected": 0})[what] = value
    return out
