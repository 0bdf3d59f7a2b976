"""Stream naming and sharding: the one place that knows what the Redis keys are called.

Every stream is sharded; the shard number sits in a Redis Cluster hash tag so that what must
be atomic per shard (write scores + ack features in one MULTI/EXEC) stays in one slot::

    rtad:tx:{3}  rtad:features:{3}  rtad:scores:{3}  rtad:alerts:{3}  rtad:deadletter:{3}
    rtad:labels:{3}  (verdicts on transactions, :mod:`rtad.common.labels`)
    rtad:challenger-scores:{3}  (the shadow model's scores: one entry a shard's batch, by column)

Bookkeeping keys sit beside them under ``<prefix>:meta:``, per shard in the shard's slot:

- ``meta:stream-stats:{s}`` — the Spark job's counters (dead letters, feature rows);
- ``meta:stream-deadlettered:{s}`` — input IDs the Spark job already dead-lettered;
- ``meta:feature-sink:{s}`` — the last batch each (query, bucket) wrote to the shard;
- ``meta:scorer:{s}`` and ``meta:scorer-ts:<t>:{s}`` — the scorer's totals and 5-s buckets;

and one for the deployment: ``meta:feature-sets`` (feature set id → JSON list of names).

The shard of a record is a stable hash (CRC-32) of its ``user_id``, so one card's transactions
stay ordered in one shard, like a Kafka partition.

>>> StreamNames().key("features", 3)
'rtad:features:{3}'
>>> shard_of("user-42", 4) == shard_of("user-42", 4)
True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

Kind = Literal["tx", "features", "scores", "alerts", "deadletter", "labels", "challenger-scores"]
KINDS: tuple[Kind, ...] = (
    "tx",
    "features",
    "scores",
    "alerts",
    "deadletter",
    "labels",
    "challenger-scores",
)

#: Consumer group of the scoring workers on the feature streams.
SCORER_GROUP = "scorer"
#: Cursor group of the Spark job on the input streams: never read with XREADGROUP, only moved
#: with XGROUP SETID on each committed micro-batch, so that trimming and backpressure see how
#: far Spark has committed (a group is Redis' own notion of "a reader's position").
SPARK_GROUP = "spark"
#: Consumer group of the scorers' label consumers on the labels streams (live quality).
QUALITY_GROUP = "quality"


def shard_of(user_id: str, shards: int) -> int:
    """Stable shard of a card: CRC-32 of the UTF-8 ``user_id`` modulo ``shards``."""
    return zlib.crc32(user_id.encode("utf-8")) % shards


@dataclass(frozen=True, slots=True)
class StreamNames:
    """Key names for one deployment (``prefix``) with ``shards`` shards."""

    prefix: str = "rtad"
    shards: int = 4

    def key(self, kind: Kind, shard: int) -> str:
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} out of range 0..{self.shards - 1}")
        return f"{self.prefix}:{kind}:{{{shard}}}"

    def all(self, kind: Kind) -> list[str]:
        """The keys of every shard of one kind, in shard order."""
        return [self.key(kind, s) for s in range(self.shards)]

    def for_user(self, kind: Kind, user_id: str) -> str:
        return self.key(kind, shard_of(user_id, self.shards))

    def shard_from_key(self, key: str | bytes) -> int:
        text = key.decode() if isinstance(key, bytes) else key
        return int(text[text.rindex("{") + 1 : text.rindex("}")])

    def pattern(self, kind: Kind) -> str:
        """The keys of every shard of one kind as a glob (for display and SCAN).

        >>> StreamNames().pattern("tx")
        'rtad:tx:{*}'
        """
        return f"{self.prefix}:{kind}:{{*}}"

    def meta_key(self, name: str, shard: int) -> str:
        """A per-shard bookkeeping key in the same slot as the shard's streams."""
        return f"{self.prefix}:meta:{name}:{{{shard}}}"

    def feature_sets_key(self) -> str:
        """The hash of the deployment's feature sets (id → JSON list of names).

        >>> StreamNames().feature_sets_key()
        'rtad:meta:feature-sets'
        """
        return f"{self.prefix}:meta:feature-sets"

    def stream_stats_key(self, shard: int) -> str:
        """The Spark job's counters of a shard (dead letters, feature rows)."""
        return self.meta_key("stream-stats", shard)

    def stream_deadlettered_key(self, shard: int) -> str:
        """Input IDs of a shard the Spark job already dead-lettered (a replay adds nothing)."""
        return self.meta_key("stream-deadlettered", shard)

    def feature_sink_marker_key(self, shard: int) -> str:
        """The last batch id each (query, bucket) wrote to a shard's feature stream."""
        return self.meta_key("feature-sink", shard)

    def scorer_totals_key(self, shard: int) -> str:
        """The scorer's totals of a shard (scored, anomalies, per labelled scenario)."""
        return self.meta_key("scorer", shard)

    def scorer_gauges_lease_key(self) -> str:
        """The lease of the one scorer replica that exports the group-wide lag gauges."""
        return self.meta_key("scorer-gauges", 0)

    def model_roles_key(self) -> str:
        """The deployment's model roles (champion and challenger versions), after a promotion."""
        return f"{self.prefix}:meta:model-roles"

    def budget_bucket_key(self, version: str, shard: int, bucket: int) -> str:
        """A model's recent scores of a shard in one time bucket (the alert budget's quantile)."""
        return self.meta_key(f"budget:{version}:{bucket}", shard)

    def budget_counts_key(self, shard: int) -> str:
        """The alert budget's traffic and alert counts of a shard."""
        return self.meta_key("budget-count", shard)

    def quality_alerts_key(self, version: str, shard: int) -> str:
        """A model's alerted transactions of a shard (the quality index)."""
        return self.meta_key(f"q-alert:{version}", shard)

    def quality_alert_age_key(self, version: str, shard: int) -> str:
        """When each of a model's alerts of a shard was indexed (for pruning)."""
        return self.meta_key(f"q-alert-age:{version}", shard)

    def quality_cards_key(self, version: str, day: str, shard: int) -> str:
        """A model's alerted cards of a shard on one day, by their highest score (CP@k)."""
        return self.meta_key(f"q-cards:{version}:{day}", shard)

    def quality_days_key(self, version: str, shard: int) -> str:
        """The days a model alerted on in a shard."""
        return self.meta_key(f"q-days:{version}", shard)

    def quality_verdicts_key(self, shard: int) -> str:
        """The latest verdict of each transaction of a shard."""
        return self.meta_key("q-verdict", shard)

    def quality_verdict_age_key(self, shard: int) -> str:
        """When each verdict of a shard was stored (for pruning)."""
        return self.meta_key("q-verdict-age", shard)

    def quality_watermark_key(self, shard: int) -> str:
        """How far the scorer has scored a shard (verdicts beyond it are held)."""
        return self.meta_key("q-watermark", shard)

    def scorer_bucket_key(self, shard: int, start_s: int) -> str:
        """The scorer's counters of a shard for the 5-second bucket starting at ``start_s``.

        >>> StreamNames().scorer_bucket_key(2, 1700000000)
        'rtad:meta:scorer-ts:1700000000:{2}'
        """
        return self.meta_key(f"scorer-ts:{start_s}", shard)
