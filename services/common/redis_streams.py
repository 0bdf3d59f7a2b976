"""Redis Streams helpers: connect, produce with backpressure, read in a group, dead-letter, trim.

Redis trims streams without looking at consumer groups (verified on 7.0.15): ``XADD MAXLEN`` or
``XTRIM MAXLEN`` delete unread entries silently. So nothing here ever trims by length: a stream is
trimmed by ``MINID`` up to the position every reader has committed (each reader is a consumer
group; the Spark job moves its cursor group with ``XGROUP SETID``), and producers wait while the
unread backlog of a shard is above a high-water mark.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from rtad.common.encoding import as_bytes, as_text, deadletter_fields
from rtad.common.errors import RtadError
from rtad.common.resp import exchange, pack_command, pooled_connection, xadd_prefix
from rtad.common.settings import mask_url
from rtad.common.streams import Kind, StreamNames

log = logging.getLogger(__name__)

StreamId = tuple[int, int]


class RedisUnavailable(RtadError):
    """Redis cannot be reached or refuses us; ``str()`` is one line, password masked."""


class RedisCredentialsRefused(RedisUnavailable):
    """Redis answers but refuses the credentials (or wants some): waiting will not help."""


def parse_id(entry_id: bytes | str) -> StreamId:
    """``b"1700000000000-3"`` → ``(1700000000000, 3)`` for ordering stream IDs.

    >>> parse_id("5-1") < parse_id("10-0")
    True
    """
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"


def connect(
    url: str,
    *,
    attempts: int = 5,
    first_wait: float = 0.5,
    max_wait: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> redis.Redis:
    """A checked connection: PING with exponential backoff, then one clear error.

    An authentication error is not retried: a wrong password does not heal by waiting, and
    retrying it fast would only turn into a crash loop.
    """
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    wait = first_wait
    for attempt in range(1, attempts + 1):
        try:
            client.ping()
            return client
        except redis.AuthenticationError as exc:
            raise RedisCredentialsRefused(
                f"Redis at {mask_url(url)} refused the credentials: {exc} "
                "(check RTAD_REDIS_URL / the Secret's password)"
            ) from None
        except redis.ResponseError as exc:
            if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
                raise RedisCredentialsRefused(
                    f"Redis at {mask_url(url)} needs a password: {exc} (set it in RTAD_REDIS_URL)"
                ) from None
            raise RedisUnavailable(f"Redis at {mask_url(url)} answered an error: {exc}") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            if attempt == attempts:
                raise RedisUnavailable(
                    f"cannot reach Redis at {mask_url(url)} after {attempts} attempts: {exc}"
                ) from None
            log.warning("Redis at %s not reachable (%s); retry in %.1fs", mask_url(url), exc, wait)
            sleep(wait)
            wait = min(wait * 2, max_wait)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- reader positions


def committed_position(client: redis.Redis, key: str) -> StreamId | None:
    """The position every reader of ``key`` has committed, or None when it has no reader.

    A reader is a consumer group. Its committed position is just before its oldest pending
    (delivered, not acknowledged) entry, or its last-delivered ID when nothing is pending.
    The groups keep reading and acknowledging between XINFO GROUPS and XPENDING, so every
    group's XPENDING is asked: its oldest pending entry when there is one, else the
    last-delivered ID XINFO saw (older than the current one: trimming stays on the safe side).
    """
    try:
        groups = client.xinfo_groups(key)
    except redis.ResponseError:  # no such key
        return None
    if not groups:
        return None
    positions: list[StreamId] = []
    for group in groups:
        oldest_pending = client.xpending(key, group["name"])["min"]
        if oldest_pending is None:  # nothing pending (any more)
            positions.append(parse_id(group["last-delivered-id"]))
            continue
        oldest = parse_id(oldest_pending)
        positions.append((oldest[0], oldest[1] - 1) if oldest[1] else (oldest[0] - 1, 2**63 - 1))
    return min(positions)


def trim_to_committed(client: redis.Redis, key: str) -> int:
    """Delete the entries every reader has committed (``XTRIM MINID``); never an unread one."""
    position = committed_position(client, key)
    if position is None:
        return 0
    # MINID keeps entries with ID >= threshold: keep everything after the committed position.
    threshold = (position[0], position[1] + 1) if position[1] < 2**63 - 1 else (position[0] + 1, 0)
    return int(client.xtrim(key, minid=format_id(threshold), approximate=False))


def set_cursor(client: redis.Redis, key: str, group: str, entry_id: str) -> None:
    """Move a cursor group (a reader that uses XRANGE, like Spark) to its committed ID."""
    try:
        client.xgroup_setid(key, group, entry_id)
    except redis.ResponseError as exc:
        message = str(exc)
        if "NOGROUP" not in message and "key to exist" not in message:
            raise
        client.xgroup_create(key, group, id=entry_id, mkstream=True)


def ensure_group(client: redis.Redis, key: str, group: str, start_id: str = "0") -> None:
    """Create a consumer group (and the stream) if missing; from the start by default."""
    try:
        client.xgroup_create(key, group, id=start_id, mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


# --------------------------------------------------------------------------- producer


@dataclass
class ProducerStats:
    sent: int = 0
    deadlettered: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    trimmed: int = 0


@dataclass
class StreamProducer:
    """Pipelined, batched XADD into the shards of one stream kind, with backpressure.

    ``send`` buffers; every ``batch_size`` records one pipeline goes out (no MULTI: ordering
    per shard is what matters, and it holds), or sooner when the oldest queued record has
    waited ``linger`` seconds: a paced producer (``--rate``) would otherwise hold records until
    a batch fills (a whole second at 2k records/s with batches of 2k; minutes at 10/s). A loop
    that sleeps between records calls :meth:`flush_due` meanwhile.

    After each flush the unread backlog of the shards just written is checked; above
    ``high_water`` the producer first trims what every reader has committed, then waits
    (sleeping with backoff) until the backlog drops below
    ``low_water``. With no reader registered nothing is trimmed, and the producer waits.

    The hot path packs each XADD itself from a per-shard prefix (only the payload varies) and
    writes the whole batch on one of the client's pooled connections, reading the replies with
    the client's parser: ~3x the throughput of redis-py's generic pipeline (see the README's
    replay benchmark).

    >>> # producer = StreamProducer(client, StreamNames(), "tx")
    >>> # producer.send(shard, payload); producer.close()
    """

    client: redis.Redis
    names: StreamNames
    kind: Kind = "tx"
    batch_size: int = 1000
    high_water: int = 200_000
    low_water: int = 100_000
    max_wait_step: float = 0.5
    linger: float = 0.05
    on_wait: Callable[[float], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    stats: ProducerStats = field(default_factory=ProducerStats)

    def __post_init__(self) -> None:
        self._keys = self.names.all(self.kind)
        self._dlq_keys = self.names.all("deadletter")
        # Everything of an XADD but the payload: "*7 XADD <key> * v 1 d", then "$<len> payload".
        self._prefixes = [xadd_prefix(k) for k in self._keys]
        self._buffer: list[bytes] = []
        self._queued = 0
        self._queued_dlq = 0
        self._touched: set[int] = set()
        self._due = math.inf  # when the oldest queued record has lingered enough

    def send(self, shard: int, payload: bytes) -> None:
        """Queue one JSON payload for ``shard``."""
        self._buffer += (self._prefixes[shard], b"$%d\r\n" % len(payload), payload, b"\r\n")
        self._queued += 1
        self._touched.add(shard)
        self._queued_one()

    def _queued_one(self) -> None:
        now = time.monotonic()
        if self._due == math.inf:
            self._due = now + self.linger
        if self._queued + self._queued_dlq >= self.batch_size or now >= self._due:
            self.flush()

    def flush_due(self) -> None:
        """Flush if the oldest queued record has waited ``linger`` (for loops that sleep)."""
        if time.monotonic() >= self._due:
            self.flush()

    def deadletter(
        self, shard: int, reason: str, stage: str, payload: bytes | str, source: str = ""
    ) -> None:
        """Queue a dead-letter entry (reason + original payload) in the same pipeline."""
        fields = deadletter_fields(reason, stage, payload, source)
        flat = [part for item in fields.items() for part in item]
        self._buffer.append(pack_command(b"XADD", self._dlq_keys[shard].encode(), b"*", *flat))
        self._queued_dlq += 1
        self._queued_one()

    def flush(self) -> None:
        """Send what is queued, then wait while a written shard's backlog is too high."""
        if not (self._queued or self._queued_dlq):
            return
        data, self._buffer = b"".join(self._buffer), []
        self._due = math.inf
        self._execute(data, self._queued + self._queued_dlq)
        self.stats.sent += self._queued
        self.stats.deadlettered += self._queued_dlq
        self._queued = self._queued_dlq = 0
        self._apply_backpressure()

    def _execute(self, data: bytes, replies: int) -> None:
        """Write a packed batch on a pooled connection and read every reply (errors raise)."""
        with pooled_connection(self.client) as conn:
            exchange(conn, [data], replies)

    def close(self) -> ProducerStats:
        self.flush()
        return self.stats

    def backlog(self, shard: int) -> int:
        """Entries in the shard's stream (after trimming what every reader committed)."""
        return int(self.client.xlen(self._keys[shard]))

    def _apply_backpressure(self) -> None:
        touched, self._touched = self._touched, set()
        for shard in sorted(touched):
            if self.backlog(shard) <= self.high_water:
                continue
            self.stats.trimmed += trim_to_committed(self.client, self._keys[shard])
            step = 0.01
            started = time.monotonic()
            while self.backlog(shard) > self.low_water:
                self.stats.waits += 1
                if self.on_wait:
                    self.on_wait(step)
                self.sleep(step)
                step = min(step * 2, self.max_wait_step)
                self.stats.trimmed += trim_to_committed(self.client, self._keys[shard])
            self.stats.waited_seconds += time.monotonic() - started


# --------------------------------------------------------------------------- consumer group

Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass
class GroupReader:
    """A consumer in a group over every shard of one stream kind.

    ``read`` returns ``{key: [(id, fields), ...]}``; the caller acknowledges (ideally in the
    same MULTI/EXEC as its writes, see :meth:`ack`). ``claim_stale`` takes over what a dead
    consumer left pending; ``delivery_counts`` tells how often each entry was delivered.
    """

    client: redis.Redis
    names: StreamNames
    kind: Kind
    group: str
    consumer: str

    def __post_init__(self) -> None:
        self.keys = self.names.all(self.kind)
        for key in self.keys:
            ensure_group(self.client, key, self.group)

    def read(self, count: int, block_ms: int | None) -> dict[str, list[Entry]]:
        response: Any = self.client.xreadgroup(
            self.group, self.consumer, {k: ">" for k in self.keys}, count=count, block=block_ms
        )
        return {as_text(key): entries for key, entries in (response or [])}

    def claim_stale(self, min_idle_ms: int, count: int) -> dict[str, list[Entry]]:
        """XAUTOCLAIM entries idle longer than ``min_idle_ms`` from any consumer of the group."""
        claimed: dict[str, list[Entry]] = {}
        for key in self.keys:
            _next, entries, *_ = self.client.xautoclaim(
                key,
                self.group,
                self.consumer,
                min_idle_time=min_idle_ms,
                start_id="0-0",
                count=count,
            )
            entries = [e for e in entries if e and e[1] is not None]
            if entries:
                claimed[key] = entries
        return claimed

    def delivery_counts(self, key: str, ids: Iterable[bytes]) -> dict[bytes, int]:
        wanted = list(ids)
        if not wanted:
            return {}
        lo = min(wanted, key=parse_id)
        hi = max(wanted, key=parse_id)
        rows: Any = self.client.xpending_range(
            key, self.group, min=lo, max=hi, count=len(wanted) * 4 + 10
        )
        return {as_bytes(r["message_id"]): int(r["times_delivered"]) for r in rows}

    def lag(self) -> dict[str, int]:
        """Unread entries per shard (Redis 7 ``lag``; XLEN when Redis cannot tell)."""
        out: dict[str, int] = {}
        for key in self.keys:
            for g in self.client.xinfo_groups(key):
                if as_text(g["name"]) == self.group:
                    lag = g.get("lag")
                    out[key] = int(lag) if lag is not None else int(self.client.xlen(key))
        return out


def read_stream(
    client: redis.Redis, key: str, page_size: int = 5000
) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of ``key`` in ID order, a page at a time (constant memory)."""
    start = "-"
    while True:
        page: Any = client.xrange(key, min=start, max="+", count=page_size)
        if not page:
            return
        yield from page
        start = "(" + page[-1][0].decode()
