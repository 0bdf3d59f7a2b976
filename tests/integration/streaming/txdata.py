"""Small, valid transaction streams for the streaming tests and benchmark."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import redis

from rtad.common.redis_streams import StreamProducer
from rtad.common.schema import Transaction, to_json
from rtad.common.streams import StreamNames, shard_of

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def transactions(count: int, users: int, seed: int = 7, labels: bool = True) -> list[Transaction]:
    """``count`` transactions of ``users`` cards, in event-time order, some with labels."""
    rng = random.Random(seed)
    homes = {f"card-{u}": (rng.uniform(40, 55), rng.uniform(-5, 15)) for u in range(users)}
    out = []
    for i in range(count):
        user = f"card-{rng.randrange(users)}"
        lat, lon = homes[user]
        fraud = rng.random() < 0.05
        out.append(
            Transaction(
                transaction_id=f"tx-{seed}-{i}",
                timestamp=START + timedelta(seconds=37 * i + rng.randrange(30)),
                user_id=user,
                merchant_id=f"m-{rng.randrange(40)}",
                amount=round(rng.lognormvariate(3, 1) * (8 if fraud else 1), 2),
                currency="EUR",
                latitude=lat + rng.uniform(-0.2, 0.2),
                longitude=lon + rng.uniform(-0.2, 0.2),
                channel=rng.choice(["pos", "online", "atm"]) if i % 3 else None,
                is_fraud=int(fraud) if labels else None,
                fraud_scenario=("card_testing" if fraud else None) if labels else None,
            )
        )
    return out


def produce(client: redis.Redis, names: StreamNames, records: list[Transaction]) -> None:
    """XADD each record to its card's shard (what ``rtad replay`` does)."""
    producer = StreamProducer(client, names, "tx", batch_size=500, high_water=10**9)
    for tx in records:
        producer.send(shard_of(tx.user_id, names.shards), to_json(tx))
    producer.close()


def produce_raw(client: redis.Redis, key: str, fields: dict[bytes, bytes]) -> bytes:
    """XADD one arbitrary entry (poison for the dead-letter tests)."""
    return client.xadd(key, fields)  # type: ignore[arg-type,return-value]
