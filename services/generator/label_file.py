"""``rtad label FILE``: verdicts from a JSONL or CSV file into the labels stream.

Every row is validated with the labels contract (:mod:`rtad.common.labels`); a valid one is
written, with ``given_at`` set to its arrival time when the file has none, to the labels
stream of its card's shard; a bad one goes to the dead-letter stream with its one-line reason,
the original text and ``file:line``. Verdicts for transactions nobody has seen are written as
any other (they are training examples); duplicates are written too, and the latest counts
when the stream is read (:func:`rtad.common.labels.latest_verdicts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from rtad.common.errors import RtadError
from rtad.common.label_files import LabelItem
from rtad.common.labels import (
    STAGE,
    Label,
    encode_label,
    with_arrival,
)
from rtad.common.redis_streams import StreamProducer
from rtad.common.streams import shard_of


@dataclass
class LabelSummary:
    """What ``rtad label`` did: labels written, rows dead-lettered, verdicts by kind."""

    written: int = 0
    deadlettered: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    def line(self, path: Path) -> str:
        fraud, genuine = self.verdicts["fraud"], self.verdicts["genuine"]
        text = (
            f"labelled {self.written} transactions from {path.name} "
            f"({fraud} fraud, {genuine} genuine); {self.deadlettered} row(s) dead-lettered"
        )
        return text + (f" (first: {self.first_error})" if self.first_error else "")


def send_labels(
    items: Iterator[LabelItem],
    producer: StreamProducer,
    source: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> LabelSummary:
    """Write valid labels to their shard, dead-letter the rest; returns the summary."""
    summary = LabelSummary()
    shards = producer.names.shards
    try:
        for line, raw, result in items:
            if isinstance(result, Label):
                label = with_arrival(result, now())
                producer.send(shard_of(label.user_id, shards), encode_label(label))
                summary.written += 1
                summary.verdicts[label.verdict] += 1
                continue
            where = f"{source}:{line}"
            summary.deadlettered += 1
            summary.first_error = summary.first_error or f"line {line}: {result}"
            producer.deadletter(shard_of(where, shards), str(result), STAGE, raw, where)
        producer.close()
    except redis.RedisError as exc:
        raise RtadError(f"Redis failed after {summary.written} labels: {exc}") from None
    return summary
