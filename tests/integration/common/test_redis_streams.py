"""Redis Streams helpers against a real redis-server: backpressure, trimming, groups."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from rtad.common.encoding import decode
from rtad.common.local_redis import LocalRedis
from rtad.common.redis_streams import (
    GroupReader,
    RedisCredentialsRefused,
    RedisUnavailable,
    StreamProducer,
    committed_position,
    connect,
    parse_id,
    set_cursor,
    trim_to_committed,
)
from rtad.common.streams import SPARK_GROUP, StreamNames

pytestmark = pytest.mark.redis


def test_producer_writes_every_record_to_its_shard(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    producer = StreamProducer(redis_client, names, "tx", batch_size=7)
    for i in range(100):
        producer.send(i % 4, b'{"i":%d}' % i)
    producer.deadletter(2, "bad", "replay", b"raw")
    stats = producer.close()
    assert stats.sent == 100 and stats.deadlettered == 1
    assert [redis_client.xlen(k) for k in names.all("tx")] == [25, 25, 25, 25]
    first = redis_client.xrange(names.key("tx", 1), count=1)[0][1]
    assert decode(first) == {"i": 1}
    assert redis_client.xrange(names.key("deadletter", 2))[0][1][b"reason"] == b"bad"


def test_a_paced_producer_sends_what_lingered_instead_of_waiting_for_a_full_batch(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    producer = StreamProducer(redis_client, names, "tx", batch_size=1000, linger=0.05)
    producer.send(0, b'{"i":0}')
    producer.flush_due()
    assert redis_client.xlen(names.key("tx", 0)) == 0  # not yet due: batches still fill
    time.sleep(0.06)
    producer.flush_due()  # what a sleeping loop calls
    assert redis_client.xlen(names.key("tx", 0)) == 1
    producer.send(1, b'{"i":1}')
    time.sleep(0.06)
    producer.send(1, b'{"i":2}')  # a send finds the oldest record due: both go out
    assert redis_client.xlen(names.key("tx", 1)) == 2
    assert producer.close().sent == 3


def test_trimming_never_removes_unread_entries(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    key = names.key("tx", 0)
    ids = [redis_client.xadd(key, {"d": str(i)}) for i in range(10)]
    assert trim_to_committed(redis_client, key) == 0  # no reader: nothing is committed
    set_cursor(redis_client, key, SPARK_GROUP, ids[3].decode())
    redis_client.xgroup_create(key, "scorer", id="0")
    redis_client.xreadgroup("scorer", "c1", {key: ">"}, count=6)
    redis_client.xack(key, "scorer", *ids[:2])  # ids[2..5] pending
    assert committed_position(redis_client, key) < parse_id(ids[2])
    trim_to_committed(redis_client, key)
    remaining = [e[0] for e in redis_client.xrange(key)]
    assert remaining == ids[2:]
    redis_client.xack(key, "scorer", *ids[2:6])
    trim_to_committed(redis_client, key)  # now spark (at ids[3]) is the slowest
    assert [e[0] for e in redis_client.xrange(key)] == ids[4:]


class _AcksBeforeXpending(redis.Redis):
    """A real client on which the group acknowledges everything between XINFO and XPENDING,
    as a busy reader does (seen with a second consumer group on the transaction streams)."""

    group = "audit"

    def xpending(self, name, groupname):  # type: ignore[no-untyped-def,override]
        for entry in self.xpending_range(name, groupname, min="-", max="+", count=1000):
            self.xack(name, groupname, entry["message_id"])
        return super().xpending(name, groupname)


def test_committed_position_survives_a_group_acking_between_xinfo_and_xpending(
    redis_server: LocalRedis, names: StreamNames
) -> None:
    client = _AcksBeforeXpending.from_url(redis_server.url)
    key = names.key("tx", 0)
    ids = [client.xadd(key, {"d": str(i)}) for i in range(5)]
    client.xgroup_create(key, "audit", id="0")
    client.xreadgroup("audit", "c1", {key: ">"}, count=5)  # 5 pending when XINFO looks
    assert committed_position(client, key) == parse_id(ids[-1])
    assert trim_to_committed(client, key) == 5  # every entry delivered and acknowledged


def test_producer_waits_for_the_reader_instead_of_trimming(
    redis_client: redis.Redis,
) -> None:
    names = StreamNames(shards=1)
    key = names.key("tx", 0)
    set_cursor(redis_client, key, SPARK_GROUP, "0-0")
    producer = StreamProducer(redis_client, names, "tx", batch_size=10, high_water=50, low_water=20)
    done = threading.Event()

    def reader() -> None:
        # a slow reader committing its position every 50 ms
        while not done.is_set():
            last = redis_client.xrange(key, count=30)
            if last:
                set_cursor(redis_client, key, SPARK_GROUP, last[-1][0].decode())
            time.sleep(0.05)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    for i in range(300):
        producer.send(0, b"%d" % i)
    stats = producer.close()
    done.set()
    thread.join()
    assert stats.waits > 0
    assert stats.sent == 300
    # every entry still in the stream or committed by the reader: nothing unread was trimmed
    info = redis_client.xinfo_stream(key)
    assert info["entries-added"] == 300
    remaining = [int(e[1][b"d"]) for e in redis_client.xrange(key)]
    cursor = committed_position(redis_client, key)
    assert remaining == list(range(300 - len(remaining), 300))
    assert cursor is not None


def test_group_reader_claims_entries_of_a_dead_consumer(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    key = names.key("features", 1)
    for i in range(5):
        redis_client.xadd(key, {"d": str(i)})
    dead = GroupReader(redis_client, names, "features", "scorer", "dead")
    got = dead.read(count=10, block_ms=100)
    assert sum(len(v) for v in got.values()) == 5
    alive = GroupReader(redis_client, names, "features", "scorer", "alive")
    assert alive.read(count=10, block_ms=10) == {}
    time.sleep(0.06)
    claimed = alive.claim_stale(min_idle_ms=50, count=100)
    ids = [e[0] for e in claimed[key]]
    assert len(ids) == 5
    assert set(alive.delivery_counts(key, ids).values()) == {2}
    redis_client.xack(key, "scorer", *ids)  # the scorer acks in its commit script
    assert redis_client.xpending(key, "scorer")["pending"] == 0


def test_connect_errors_are_one_line_with_password_masked(redis_factory) -> None:
    server: LocalRedis = redis_factory(password="right")
    wrong = server.url.replace(":right@", ":wrong@")
    with pytest.raises(RedisCredentialsRefused) as info:
        connect(wrong, attempts=3, sleep=lambda s: None)
    assert "wrong" not in str(info.value) and "***" in str(info.value)
    assert "credentials" in str(info.value)
    without = server.url.replace(":right@", "")
    with pytest.raises(RedisCredentialsRefused):
        connect(without, attempts=1)
    assert connect(server.url).ping()


def test_connect_retries_with_backoff_then_gives_up() -> None:
    waits: list[float] = []
    with pytest.raises(RedisUnavailable, match="after 4 attempts"):
        connect("redis://127.0.0.1:1/0", attempts=4, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]
