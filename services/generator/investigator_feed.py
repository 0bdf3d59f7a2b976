"""The simulated investigators at work on Redis: alerts in, verdicts out to the labels stream.

:class:`InvestigatorFeed` reads new entries of ``<prefix>:alerts:{s}`` (what the scorer writes:
``transaction_id``, ``user_id``, ``score``, ``event_time``), hands them to the pure desk
(:class:`rtad.generator.investigators.Investigators`), moves the desk's event-time clock to
the scorer's watermark (the oldest of every shard's last scored ``event_time``: every alert up
to that time has been written) and writes the verdicts now due to ``<prefix>:labels:{s}``.
:class:`InvestigatingSink` wraps the generator's stream sink: each generated record is
observed (its ``is_fraud`` is the ground truth) before it is written, and the feed is polled
at most every ``every`` seconds of wall time. A bounded run (``--count``) polls once more when
it ends: verdicts due after the scorer's watermark at that moment are not written.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import orjson
import redis

from rtad.common.encoding import UndecodableEntry, as_text, payload_of
from rtad.common.labels import encode_label
from rtad.common.redis_streams import StreamProducer
from rtad.common.streams import StreamNames, shard_of
from rtad.generator.investigators import Investigators

log = logging.getLogger(__name__)

READ_COUNT = 5000


class InvestigatorFeed:
    """Polls alerts and the scorer's watermark, writes the verdicts due (see the module)."""

    def __init__(self, client: redis.Redis, desk: Investigators, labels: StreamProducer) -> None:
        self.client = client
        self.desk = desk
        self.labels = labels
        self.names: StreamNames = labels.names
        self.written = 0
        self._alert_keys = self.names.all("alerts")
        self._positions: dict[Any, Any] = dict.fromkeys(self._alert_keys, "0-0")

    def poll(self) -> int:
        """Read new alerts, advance to the watermark, write the verdicts due; how many."""
        self._read_alerts()
        clock = self.watermark()
        if clock is None:
            return 0
        due = self.desk.advance(clock)
        for label in due:
            self.labels.send(shard_of(label.user_id, self.names.shards), encode_label(label))
        self.labels.flush()
        self.written += len(due)
        return len(due)

    def _read_alerts(self) -> None:
        while True:
            reply: Any = self.client.xread(self._positions, count=READ_COUNT)
            if not reply:
                return
            for key, entries in reply.items() if isinstance(reply, dict) else reply:
                for entry_id, fields in entries:
                    self._positions[as_text(key)] = as_text(entry_id)
                    self._take(fields)

    def _take(self, fields: Any) -> None:
        try:
            alert = orjson.loads(payload_of(fields))
            when = datetime.fromisoformat(alert["event_time"])
            self.desk.alert(
                str(alert["transaction_id"]), str(alert["user_id"]), float(alert["score"]), when
            )
        except (UndecodableEntry, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("investigators: skipped an alert entry they cannot read")

    def watermark(self) -> datetime | None:
        """Event time every scored shard has reached (None before the first score)."""
        times = []
        for key in self.names.all("scores"):
            last: Any = self.client.xrevrange(key, count=1)
            if not last:
                continue
            try:
                score = orjson.loads(payload_of(last[0][1]))
                times.append(datetime.fromisoformat(score["event_time"]))
            except (UndecodableEntry, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return min(times) if times else None


class InvestigatingSink:
    """A sink that shows every record to the investigators before writing it."""

    def __init__(self, inner: Any, feed: InvestigatorFeed, every: float = 0.5) -> None:
        self.inner = inner
        self.feed = feed
        self.every = every
        self._next = time.monotonic() + every

    def write(self, record: dict[str, Any]) -> None:
        if record.get("is_fraud"):
            when = datetime.fromisoformat(record["timestamp"])
            self.feed.desk.observe(record["transaction_id"], record["user_id"], True, when)
        self.inner.write(record)
        if time.monotonic() >= self._next:
            self._poll()

    def flush_due(self) -> None:
        self.inner.flush_due()
        if time.monotonic() >= self._next:
            self._poll()

    def _poll(self) -> None:
        self.feed.poll()
        self._next = time.monotonic() + self.every

    def close(self) -> None:
        self.inner.close()
        self.feed.poll()
        self.feed.labels.close()
