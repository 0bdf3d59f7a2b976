"""How far data has flowed through the pipeline, read from Redis, and its rendering for ``rtad up``.

Counts are each stream's ``entries-added`` (``XINFO STREAM``, Redis 7+), summed over shards: it
only grows, so trimming a stream does not make the pipeline look like it went backwards.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import redis
from rich.console import Group
from rich.spinner import Spinner
from rich.table import Table

from rtad.common.streams import Kind, StreamNames

#: Rates are averaged over about this many seconds (Spark writes a micro-batch at a time).
RATE_WINDOW_S = 5.0
#: (stage shown to the user, the stream it writes) in pipeline order.
STAGES: tuple[tuple[str, Kind], ...] = (
    ("generator", "tx"),
    ("spark", "features"),
    ("scorer", "scores"),
    ("alerts", "alerts"),
    ("dead letters", "deadletter"),
)


def entries_added(client: redis.Redis, names: StreamNames, kind: Kind) -> int:
    """Entries ever added to all shards of ``kind`` (a missing stream counts 0)."""
    pipe = client.pipeline(transaction=False)
    for key in names.all(kind):
        pipe.xinfo_stream(key)
    total = 0
    for info in pipe.execute(raise_on_error=False):
        if isinstance(info, dict):
            total += int(info.get("entries-added", info.get(b"entries-added", 0)) or 0)
    return total


@dataclass
class Sample:
    """Counts per stage at one instant (``time.monotonic()``)."""

    at: float
    counts: dict[str, int]


@dataclass
class PipelineWatch:
    """Samples the stream counts, keeps the rate per stage and when each stage first moved."""

    client: redis.Redis
    names: StreamNames
    started: float = field(default_factory=time.monotonic)
    samples: deque[Sample] = field(default_factory=deque)
    first_seen: dict[str, float] = field(default_factory=dict)

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def sample(self) -> list[str]:
        """Take a sample; returns the stages that produced their first entries just now."""
        counts = {stage: entries_added(self.client, self.names, kind) for stage, kind in STAGES}
        now = time.monotonic()
        self.samples.append(Sample(now, counts))
        # keep one sample older than the window, so that the rate spans the whole window
        while len(self.samples) > 2 and now - self.samples[1].at >= RATE_WINDOW_S:
            self.samples.popleft()
        fresh = [s for s, n in counts.items() if n > 0 and s not in self.first_seen]
        for stage in fresh:
            self.first_seen[stage] = now - self.started
        return fresh

    def rate(self, stage: str) -> float:
        """Entries per second over the last :data:`RATE_WINDOW_S` seconds or so."""
        if len(self.samples) < 2:
            return 0.0
        first, last = self.samples[0], self.samples[-1]
        span = last.at - first.at
        return (last.counts[stage] - first.counts[stage]) / span if span > 0 else 0.0

    @property
    def scoring(self) -> bool:
        """Scores are flowing: the whole chain works."""
        return "scorer" in self.first_seen

    def render(self) -> Group | Table:
        """A table of entries and rates per stage; a spinner until the first scores."""
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("stage")
        table.add_column("stream")
        table.add_column("entries", justify="right")
        table.add_column("per second", justify="right")
        counts = self.latest.counts if self.latest else {}
        for stage, kind in STAGES:
            table.add_row(
                stage,
                self.names.pattern(kind),
                f"{counts.get(stage, 0):,}",
                f"{self.rate(stage):,.0f}",
            )
        if self.scoring:
            return table
        waiting = "Spark's first micro-batch" if "generator" in self.first_seen else "generator"
        spinner = Spinner("dots", text=f"waiting for {waiting}…")
        return Group(spinner, table)
