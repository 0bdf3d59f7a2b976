"""What the tests assert about the streams: every transaction scored exactly once."""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from typing import Any

from rtad.common.encoding import as_text, decode, encode_raw
from rtad.common.labels import Label, encode_label
from rtad.common.streams import SCORER_GROUP
from tests.containers.deployment import Deployment, wait_for
from tests.containers.lag import group_backlog


class ScoreTally:
    """Transaction ids of the score streams, read incrementally (they are never trimmed
    within a test: the scorer keeps an hour)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.counts: collections.Counter[str] = collections.Counter()
        self._after = {key: "-" for key in deployment.names.all("scores")}

    def update(self) -> collections.Counter[str]:
        client = self.deployment.redis
        assert client is not None
        for key, after in self._after.items():
            while True:
                start = after if after == "-" else f"({after}"
                entries: Any = client.xrange(key, min=start, count=5000)
                if not entries:
                    break
                for _entry_id, fields in entries:
                    self.counts[str(decode(fields)["transaction_id"])] += 1
                after = as_text(entries[-1][0])
            self._after[key] = after
        return self.counts


def scored_ids(deployment: Deployment) -> collections.Counter[str]:
    return ScoreTally(deployment).update()


def count(deployment: Deployment, kind: str) -> int:
    assert deployment.redis is not None
    return sum(int(deployment.redis.xlen(key)) for key in deployment.names.all(kind))


def scorer_backlog(deployment: Deployment) -> int:
    """Feature entries the scorer group has not delivered or not acknowledged."""
    assert deployment.redis is not None
    return group_backlog(deployment.redis, deployment.names.all("features"), SCORER_GROUP)


def pending_of(deployment: Deployment, pod: str) -> int:
    """Feature entries delivered to the consumers of ``pod`` and not acknowledged."""
    assert deployment.redis is not None
    total = 0
    for key in deployment.names.all("features"):
        for consumer in deployment.redis.xinfo_consumers(key, SCORER_GROUP):
            name = consumer["name"]
            if (name.decode() if isinstance(name, bytes) else name).startswith(f"{pod}-"):
                total += int(consumer["pending"])
    return total


def claims(deployment: Deployment) -> list[str]:
    """The scorers' log lines about entries taken over from another replica (XAUTOCLAIM)."""
    cluster = deployment.cluster
    return [
        f"{pod}: {line}"
        for pod in cluster.pods_of("rtad-scorer")
        for line in cluster.logs(pod, tail=100_000).splitlines()
        if "claimed" in line
    ]


def assert_exactly_once(deployment: Deployment, timeout: float = 300) -> int:
    """Stop the generator, let the pipeline drain, and check that every transaction entry
    written got exactly one score (ids compared as multisets: a transaction id written twice
    needs two scores); start the generator again. Returns how many entries were compared."""
    cluster, audit = deployment.cluster, deployment.audit
    assert audit is not None
    generator = "rtad-generator-0"
    stopped = cluster.stop(generator)
    try:
        assert stopped.exit_code == 0, f"generator exit {stopped.exit_code}:\n{stopped.logs}"
        wait_for(lambda: audit.backlog() == 0, 60, "the audit to read every transaction", cluster)
        written = collections.Counter(audit.seen)
        tally = ScoreTally(deployment)
        wait_for(lambda: not written - tally.update(), timeout, "every score", cluster)
        scored = tally.update()
        assert scored == written, _difference(written, scored) + "".join(
            f"\n{line}" for line in claims(deployment)
        )
        return sum(written.values())
    finally:
        cluster.restart(generator)


def _difference(written: collections.Counter[str], scored: collections.Counter[str]) -> str:
    missing = written - scored
    extra = scored - written
    return (
        f"{sum(written.values())} transaction entries written, {sum(scored.values())} scores: "
        f"{sum(missing.values())} never scored (e.g. {list(missing)[:3]}), "
        f"{sum(extra.values())} scores too many (e.g. {list(extra.items())[:3]})"
    )


def give_verdicts(deployment: Deployment, per_shard: int = 40) -> collections.Counter[str]:
    """Analysts' verdicts on the first alerts of each shard and on every alerted fraud (fraud or
    not, as the generator labelled them), and a chargeback for a fraud the model did not alert,
    written to the labels streams the scorers consume; returns how many of each kind.

    Every alerted fraud gets its verdict: the detection-delay and per-scenario panels need one,
    and the first alerts of a shard need not hold any.
    """
    assert deployment.redis is not None
    now, given = datetime.now(UTC), collections.Counter[str]()
    for shard in range(deployment.names.shards):
        alerted: set[str] = set()
        for _id, fields in deployment.redis.xrange(deployment.names.key("alerts", shard)):
            alert = decode(fields)
            alerted.add(alert["transaction_id"])
            verdict = "fraud" if alert.get("is_fraud") else "genuine"
            if verdict == "fraud" or len(alerted) <= per_shard:
                _send(deployment, shard, alert, verdict, "analyst", now)
                given[f"analyst {verdict}"] += 1
        for _id, fields in deployment.redis.xrange(deployment.names.key("scores", shard)):
            score = decode(fields)
            if score.get("is_fraud") and score["transaction_id"] not in alerted:
                _send(deployment, shard, score, "fraud", "chargeback", now)
                given["chargeback"] += 1
                break
    return given


def _send(
    deployment: Deployment, shard: int, entry: dict[str, Any], verdict: str, source: str, at: Any
) -> None:
    label = Label(
        transaction_id=entry["transaction_id"],
        user_id=entry["user_id"],
        verdict=verdict,  # type: ignore[arg-type]
        source=source,  # type: ignore[arg-type]
        given_at=at,
    )
    assert deployment.redis is not None
    deployment.redis.xadd(deployment.names.key("labels", shard), encode_raw(encode_label(label)))
