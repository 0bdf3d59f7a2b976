"""Commit one shard of a batch: scores, alerts, dead-letters, counters and XACK in ONE MULTI/EXEC.

Either all of a shard's batch becomes visible (scores written AND features acknowledged) or
none of it does: a worker killed before EXEC leaves its entries pending, another worker claims
them and scores them; a worker killed after EXEC has nothing left to redo. The shard's hash tag
keeps every key of the transaction in one Redis Cluster slot.

The score and alert entries are appended by a small Lua script queued inside the MULTI, one
``EVAL`` for the whole shard: queueing one ``XADD`` per transaction measured ~125k entries/s
(redis-py packs and parses every command), one ``EVAL`` ~225k/s on the same machine. ``EVAL``
(not ``EVALSHA``) because a missing script inside MULTI would fail alone while the XACK
went through. The transaction is packed here in the Redis wire format (RESP), the thousands
of payloads and IDs with a few whole-list operations, and sent on a pooled connection: redis-py
packs each argument in Python (~1 µs), which made the commit thread hold the GIL that long
for every transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from rtad.common.encoding import as_bytes, deadletter_fields
from rtad.common.resp import exchange, pack_command, pooled_connection
from rtad.common.streams import StreamNames
from rtad.scorer.batch import ShardOutput
from rtad.scorer.stats_store import queue_counters

STAGE = "scorer"

#: KEYS[1] scores, KEYS[2] alerts; ARGV[1] = n scores, ARGV[2..n+1] scores, the rest alerts.
APPEND_SCRIPT = """
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  redis.call('XADD', KEYS[1], '*', 'v', '1', 'd', ARGV[i])
end
for i = n + 2, #ARGV do
  redis.call('XADD', KEYS[2], '*', 'v', '1', 'd', ARGV[i])
end
return n
"""
_SCRIPT = APPEND_SCRIPT.encode()


class _BulkHeads(dict[int, bytes]):
    """``$<n>`` of a bulk string of length n, made once per length (payload lengths repeat).

    Only lengths under 64 KiB are kept, so odd huge payloads cannot grow it without bound.
    """

    def __missing__(self, n: int) -> bytes:
        head = b"$%d" % n
        if n < 65536:
            self[n] = head
        return head


_heads = _BulkHeads()


def pack_many(head: Sequence[bytes], tail: Sequence[bytes]) -> bytes:
    """One command: the few ``head`` arguments, then the many ``tail`` ones (all bytes).

    The tail goes through C-level ``map`` and one ``join``: no Python code per argument.

    >>> pack_many([b"XACK", b"k", b"g"], [b"1-1", b"1-2"]) == pack_command(
    ...     b"XACK", b"k", b"g", b"1-1", b"1-2")
    True
    """
    if not tail:
        return pack_command(*head)
    parts: list[bytes] = [b""] * (2 * len(tail))
    parts[0::2] = map(_heads.__getitem__, map(len, tail))
    parts[1::2] = tail
    start = b"*%d\r\n" % (len(head) + len(tail))
    start += b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in head)
    return start + b"\r\n".join(parts) + b"\r\n"


class PackedTransaction:
    """Commands packed for one MULTI/EXEC (what :func:`queue_counters` calls on a pipeline)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = [pack_command(b"MULTI")]
        self.queued = 0

    def add(self, packed: bytes) -> None:
        self.parts.append(packed)
        self.queued += 1

    def command(self, *args: str | bytes | int) -> None:
        self.add(pack_command(*map(as_bytes, args)))

    def hincrby(self, key: str, field: str, amount: int) -> None:
        self.command(b"HINCRBY", key, field, amount)

    def expire(self, key: str, seconds: int) -> None:
        self.command(b"EXPIRE", key, seconds)

    def execute(self, client: redis.Redis) -> list[Any]:
        """Send MULTI … EXEC on a pooled connection; the EXEC results, or the first error."""
        self.parts.append(pack_command(b"EXEC"))
        with pooled_connection(client) as conn:
            results: Any = exchange(conn, [b"".join(self.parts)], self.queued + 2)
        if results is None:
            raise redis.WatchError("EXEC aborted")
        for result in results:
            if isinstance(result, Exception):
                raise result
        return list(results)


def queue_shard(
    tx: PackedTransaction, names: StreamNames, group: str, out: ShardOutput, now_ms: int
) -> None:
    """Queue one shard's writes and its XACK on a transaction."""
    shard = out.shard
    features = names.key("features", shard)
    if out.scores:
        keys = [names.key("scores", shard).encode(), names.key("alerts", shard).encode()]
        head = [b"EVAL", _SCRIPT, b"2", *keys, b"%d" % len(out.scores)]
        tx.add(pack_many(head, out.scores + out.alerts))
    deadletter = names.key("deadletter", shard).encode()
    for entry_id, _code, reason, payload in out.deadletters:
        source = f"{features}/{entry_id.decode()}"
        fields = deadletter_fields(reason, STAGE, payload, source)
        tx.add(pack_command(b"XADD", deadletter, b"*", *(p for kv in fields.items() for p in kv)))
    ack = out.ack + [dead[0] for dead in out.deadletters]
    if ack:
        tx.add(pack_many([b"XACK", features.encode(), group.encode()], ack))
    if out.scores:
        queue_counters(
            tx,
            names,
            shard,
            now_ms,
            out.scored,
            out.anomalies,
            out.latency_counts,
            dict(out.labelled),
        )


def commit_shard(
    client: redis.Redis, names: StreamNames, group: str, out: ShardOutput, now_ms: int
) -> list[Any]:
    """Run one shard's MULTI/EXEC; returns the EXEC results."""
    if not (out.scores or out.deadletters):
        return []
    tx = PackedTransaction()
    queue_shard(tx, names, group, out, now_ms)
    return tx.execute(client)
