"""Commit one shard of a batch: scores, alerts, dead letters, counters and XACK in ONE script.

Either all of a shard's batch becomes visible (scores written AND features acknowledged) or
none of it does: Redis runs a script alone, from start to end, so a worker killed before the
server has the command leaves its entries pending (another worker claims and scores them),
and one killed after has nothing left to redo. The shard's hash tag keeps every key of the
script in one Redis Cluster slot.

A worker that stalls longer than the claim idle time may find its entries taken over
(``XAUTOCLAIM``) and perhaps committed by another worker. So the script first checks that
every entry it would acknowledge is still pending for THIS consumer (``XPENDING`` over the
batch's range, filtered by consumer); if one is not, it writes and acknowledges nothing and
says how many it lost (:class:`ShardCommit`): the new owner scores them, and the entries it
still holds stay pending until they are claimed in turn. A check and its writes run as one
script, so between them no claim can slip in.

The script (:data:`APPEND_SCRIPT`) checks every key's type and the ownership before it
writes anything, then appends the score, alert and dead-letter entries, acknowledges the
entries and adds the shard's counters of ``/v1/stats``. One script rather than a MULTI of one
``XADD`` per transaction: redis-py would pack and parse every command. ``EVAL`` rather than
``EVALSHA``: the script text is small beside a shard's payloads, and a missing script needs no
second round trip. The scripts of every shard of a batch are packed here in the Redis wire format
(RESP), the thousands of payloads and IDs with a few whole-list operations, and sent in one
write on a pooled connection (one round trip a batch, each shard still its own script):
redis-py packs each argument in Python, and the commit thread would hold the GIL that long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import redis

from rtad.common.encoding import deadletter_fields
from rtad.common.redis_streams import parse_id
from rtad.common.resp import exchange_all, pack_command, pooled_connection
from rtad.common.streams import StreamNames
from rtad.scorer.counters import queue_counters
from rtad.scorer.worker.batch import ShardOutput

STAGE = "scorer"

#: KEYS[1] scores, KEYS[2] alerts, KEYS[3] dead letters, KEYS[4] the feature stream, KEYS[5..]
#: counter hashes. ARGV[1..9] = n scores, a alerts, d dead letters, k IDs to acknowledge, the
#: group, the stage, the consumer, the lowest and the highest ID to acknowledge; then the score
#: and alert payloads, (reason, payload, source) of each dead letter, the IDs; then for each
#: counter hash: its number of fields, its TTL in seconds (0: none), and its field/amount
#: pairs. Every key's type, and that the consumer still owns every ID, are checked before
#: anything is written (a script that fails half-way keeps what it wrote) and the XACK comes
#: after the writes: a key holding something else than a stream leaves the entries pending,
#: never acknowledged without their scores. The reply is ``{score entries written, IDs no
#: longer owned}``. An optional tail: the number of further operations, then each as its
#: argument count and its arguments (the shadow model's scores, the alert budget and the
#: quality index, :mod:`rtad.scorer.worker.shadow`); their keys carry the shard's hash tag.
APPEND_SCRIPT = """
local n, a, d, k = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, #KEYS do
  local kind, want = redis.call('TYPE', KEYS[i])['ok'], (i <= 4) and 'stream' or 'hash'
  if kind ~= want and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. kind .. ', not a ' ..
      want .. ': nothing written, nothing acknowledged')
  end
end
local p = 10
local first_id = p + n + a + 3 * d
if k > 0 then
  local owned, lost = {}, 0
  local pel = redis.pcall('XPENDING', KEYS[4], ARGV[5], ARGV[8], ARGV[9], OWNED_SCAN, ARGV[7])
  if not pel['err'] then
    for _, entry in ipairs(pel) do owned[entry[1]] = true end
  end
  for j = first_id, first_id + k - 1 do
    if not owned[ARGV[j]] then lost = lost + 1 end
  end
  if lost > 0 then return {0, lost} end
end
for i = p, p + n - 1 do redis.call('XADD', KEYS[1], '*', 'v', '1', 'd', ARGV[i]) end
p = p + n
for i = p, p + a - 1 do redis.call('XADD', KEYS[2], '*', 'v', '1', 'd', ARGV[i]) end
p = p + a
for i = p, p + 3 * d - 1, 3 do
  redis.call('XADD', KEYS[3], '*', 'reason', ARGV[i], 'stage', ARGV[6], 'payload', ARGV[i + 1],
    'source', ARGV[i + 2])
end
p = p + 3 * d
local last = p + k - 1
for j = p, last, 1000 do
  redis.call('XACK', KEYS[4], ARGV[5], unpack(ARGV, j, math.min(j + 999, last)))
end
p = p + k
for c = 5, #KEYS do
  local fields, ttl = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  for j = p + 2, p + 2 * fields, 2 do redis.call('HINCRBY', KEYS[c], ARGV[j], ARGV[j + 1]) end
  if ttl > 0 then redis.call('EXPIRE', KEYS[c], ttl) end
  p = p + 2 + 2 * fields
end
local ops = tonumber(ARGV[p] or '0')
p = p + 1
for _ = 1, ops do
  local nargs = tonumber(ARGV[p])
  redis.call(unpack(ARGV, p + 1, p + nargs))
  p = p + 1 + nargs
end
return {n, 0}
"""
#: How many of the consumer's pending entries inside the batch's ID range the check reads at
#: most: the range holds the batch and little else, the bound only guards against a runaway.
OWNED_SCAN = 10_000_000
_SCRIPT = APPEND_SCRIPT.replace("OWNED_SCAN", str(OWNED_SCAN)).encode()


@dataclass(frozen=True)
class ShardCommit:
    """What one shard's script did: score entries written, and entries found not owned.

    ``not_owned > 0``: another consumer had claimed (or acknowledged) some of the entries,
    and the script wrote and acknowledged nothing of the shard's batch.
    """

    shard: int
    written: int
    not_owned: int

    @property
    def committed(self) -> bool:
        return self.not_owned == 0


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

    >>> pack_many([b"XACK", b"k", b"g"], [b"1-1", b"1-2"]) == pack_command(
    ...     b"XACK", b"k", b"g", b"1-1", b"1-2")
    True
    """
    return b"".join(pack_many_parts(head, tail))


def pack_many_parts(head: Sequence[bytes], tail: Sequence[bytes]) -> list[bytes]:
    """:func:`pack_many`'s bytes in a few pieces, joined once with the rest of the batch.

    The tail goes through C-level ``map`` and one ``join``: no Python code per argument.
    """
    if not tail:
        return [pack_command(*head)]
    parts: list[bytes] = [b""] * (2 * len(tail))
    parts[0::2] = map(_heads.__getitem__, map(len, tail))
    parts[1::2] = tail
    start = b"*%d\r\n" % (len(head) + len(tail))
    start += b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in head)
    return [start, b"\r\n".join(parts), b"\r\n"]


class _Counters:
    """What :func:`queue_counters` adds, gathered for the shard's ``EVAL`` (its ARGV tail)."""

    def __init__(self) -> None:
        self.fields: dict[str, list[bytes]] = {}
        self.ttl: dict[str, int] = {}

    def hincrby(self, key: str, field: str, amount: int) -> None:
        self.fields.setdefault(key, []).extend((field.encode(), b"%d" % amount))

    def expire(self, key: str, seconds: int) -> None:
        self.fields.setdefault(key, [])
        self.ttl[key] = seconds

    def keys(self) -> list[bytes]:
        return [key.encode() for key in self.fields]

    def args(self) -> list[bytes]:
        """Per hash (in the order of :meth:`keys`): its field count, TTL, field/amount pairs."""
        out: list[bytes] = []
        for key, pairs in self.fields.items():
            out += (b"%d" % (len(pairs) // 2), b"%d" % self.ttl.get(key, 0), *pairs)
        return out


def shard_script(
    names: StreamNames, group: str, consumer: str, out: ShardOutput, now_ms: int
) -> list[bytes]:
    """One shard's writes, counters and XACK: the packed ``EVAL`` (in a few pieces)."""
    shard = out.shard
    features = names.key("features", shard)
    counters = _Counters()
    if out.scores:
        labelled = dict(out.labelled)
        queue_counters(
            counters, names, shard, now_ms, out.scored, out.anomalies, out.latency_counts, labelled
        )
    streams = [names.key(kind, shard) for kind in ("scores", "alerts", "deadletter")]
    keys = [*(k.encode() for k in (*streams, features)), *counters.keys()]
    dead: list[bytes] = []
    for entry_id, _code, reason, payload in out.deadletters:
        fields = deadletter_fields(reason, STAGE, payload, f"{features}/{entry_id.decode()}")
        dead += (fields[b"reason"], fields[b"payload"], fields[b"source"])
    ack = out.ack + [d[0] for d in out.deadletters]
    sizes = (len(out.scores), len(out.alerts), len(out.deadletters), len(ack))
    head = [b"EVAL", _SCRIPT, b"%d" % len(keys), *keys, *(b"%d" % c for c in sizes)]
    head += [group.encode(), STAGE.encode(), consumer.encode(), *id_range(out)]
    extra = [b"%d" % out.op_count, *out.ops] if out.op_count else []
    return pack_many_parts(head, out.scores + out.alerts + dead + ack + counters.args() + extra)


def id_range(out: ShardOutput) -> tuple[bytes, bytes]:
    """The lowest and highest ID a shard's script acknowledges (for its ownership check).

    ``out.ack`` is in stream order (entries are laid out as they were delivered), so its ends
    bound it; dead letters are few and compared one by one. Were the order ever broken, IDs
    outside the range would count as not owned: the commit would be left to the next owner,
    never doubled.
    """
    ends = [out.ack[0], out.ack[-1]] if out.ack else []
    candidates = ends + [d[0] for d in out.deadletters]
    ordered = sorted(candidates, key=parse_id)
    return (ordered[0], ordered[-1]) if ordered else (b"0-0", b"0-0")


def commit_shards(
    client: redis.Redis,
    names: StreamNames,
    group: str,
    consumer: str,
    outputs: Sequence[ShardOutput],
    now_ms: int,
) -> list[ShardCommit]:
    """Run one script per shard with something to write, all in one round trip, as
    ``consumer`` of ``group``; what each shard's script did.

    A failing shard neither stops nor undoes the others: every reply is read (the pooled
    connection stays in step), then the first error is raised.
    """
    busy = [out for out in outputs if out.scores or out.deadletters]
    if not busy:
        return []
    scripts = [shard_script(names, group, consumer, out, now_ms) for out in busy]
    with pooled_connection(client) as conn:
        replies = exchange_all(conn, [b"".join(chain.from_iterable(scripts))], len(scripts))
    return [
        ShardCommit(out.shard, int(reply[0]), int(reply[1]))
        for out, reply in zip(busy, replies, strict=True)
    ]
