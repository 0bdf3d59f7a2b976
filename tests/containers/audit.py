"""Every transaction the generator writes, recorded by a reader of its own.

The Spark job trims the transaction streams up to what every consumer group has committed,
so a test cannot read them back at the end. The audit is one more consumer group on each
shard: it records each transaction id and acknowledges it, and trimming never passes it.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Any

import redis

from rtad.common.encoding import decode
from rtad.common.streams import StreamNames
from tests.containers.lag import group_backlog

GROUP = "containers-audit"


@dataclass
class TransactionAudit:
    client: redis.Redis
    names: StreamNames
    seen: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Create the group on every shard (before any transaction exists) and follow it."""
        for key in self.names.all("tx"):
            self.client.xgroup_create(key, GROUP, id="0", mkstream=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        streams: dict[Any, Any] = {key: ">" for key in self.names.all("tx")}
        while not self._stop.is_set():
            try:
                replies: Any = self.client.xreadgroup(
                    GROUP, "audit", streams, count=2000, block=500
                )
            except redis.RedisError as exc:
                self.errors.append(str(exc))
                self._stop.wait(1.0)
                continue
            for key, entries in replies or []:
                for _entry_id, fields in entries:
                    self.seen[str(decode(fields)["transaction_id"])] += 1
                if entries:
                    self.client.xack(key, GROUP, *[entry_id for entry_id, _ in entries])

    def backlog(self) -> int:
        """Transactions written but not yet recorded."""
        return group_backlog(self.client, self.names.all("tx"), GROUP)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
