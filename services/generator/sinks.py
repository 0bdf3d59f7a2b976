"""Where records go: a JSONL file, a Parquet file, or the sharded input streams in Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import orjson

from rtad.common.errors import RtadError
from rtad.common.redis_streams import StreamProducer
from rtad.common.schema import InvalidRecord, decode_json, to_json
from rtad.common.streams import shard_of
from rtad.generator import metrics

Record = dict[str, Any]


class Sink(Protocol):
    def write(self, record: Record) -> None: ...

    def flush_due(self) -> None:
        """Send what has waited long enough (the pacer calls it while it sleeps)."""

    def close(self) -> None: ...


class _NothingWaits:
    """A file sink: nothing waits on a clock, the file is written as records come."""

    def flush_due(self) -> None:
        pass


class JsonlSink(_NothingWaits):
    """One compact JSON object per line."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb", buffering=1 << 20)

    def write(self, record: Record) -> None:
        self._file.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        self._file.close()


PARQUET_COLUMNS = (
    ("transaction_id", "string"),
    ("timestamp", "string"),  # ISO 8601 with the local offset, as in JSONL
    ("user_id", "string"),
    ("merchant_id", "string"),
    ("amount", "float64"),
    ("currency", "string"),
    ("latitude", "float64"),
    ("longitude", "float64"),
    ("merchant_category", "string"),
    ("channel", "string"),
    ("country", "string"),
    ("is_fraud", "int8"),
    ("fraud_scenario", "string"),
)


class ParquetSink(_NothingWaits):
    """Parquet in row groups of ``batch`` records; genuine rows have a null ``fraud_scenario``."""

    def __init__(self, path: Path, batch: int = 50_000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in PARQUET_COLUMNS])
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")
        self._rows: list[Record] = []
        self._batch = batch

    def write(self, record: Record) -> None:
        self._rows.append(record)
        if len(self._rows) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
            self._writer.write_table(table)
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


class StreamSink:
    """Validated records into ``rtad:tx:{shard}`` (shard of ``user_id``), with backpressure."""

    def __init__(self, producer: StreamProducer, source: str = "generate") -> None:
        self.producer = producer
        self.shards = producer.names.shards
        self._sent = metrics.RECORDS_SENT.labels(source=source)
        self._source = source

    def flush_due(self) -> None:
        """Send what has waited long enough in the producer's batch (see ``Pacer``)."""
        self.producer.flush_due()

    def write(self, record: Record) -> None:
        """Validate ``record`` against the contract and queue it for its card's shard."""
        payload = orjson.dumps(record)
        try:
            tx = decode_json(payload)
        except InvalidRecord as exc:  # a simulator bug must still not drop a record silently
            shard = shard_of(str(record.get("user_id", "")), self.shards)
            self.producer.deadletter(shard, str(exc), self._source, payload)
            metrics.DEADLETTER.labels(reason="invalid_record").inc()
            return
        self.producer.send(shard_of(tx.user_id, self.shards), to_json(tx))
        self._sent.inc()

    def close(self) -> None:
        self.producer.close()


def open_file_sink(path: Path) -> Sink:
    """A sink for ``path`` by its extension; an unknown one is a one-line error."""
    suffix = path.suffix.lower()
    if not path.parent.exists():
        raise RtadError(f"cannot write {path}: directory {path.parent} does not exist")
    if suffix == ".jsonl":
        return JsonlSink(path)
    if suffix == ".parquet":
        return ParquetSink(path)
    raise RtadError(f"cannot write {path.name}: use a .jsonl or .parquet file name")


class Pacer:
    """Holds a loop to ``rate`` iterations per second (None: as fast as possible).

    ``idle`` is called at least every ``idle_step`` seconds while the loop sleeps (a producer
    flushing what has lingered in its batch).
    """

    def __init__(
        self,
        rate: float | None,
        idle: Callable[[], None] | None = None,
        idle_step: float = 0.01,
    ) -> None:
        if rate is not None and rate <= 0:
            raise RtadError("--rate must be positive")
        self.rate = rate
        self.idle = idle
        self.idle_step = idle_step
        self._start = time.monotonic()
        self._n = 0

    def tick(self) -> None:
        """Count one iteration; sleep if the loop is ahead of its schedule."""
        if self.rate is None:
            return
        self._n += 1
        due = self._start + self._n / self.rate
        ahead = due - time.monotonic()
        while ahead > 0:
            if self.idle is not None:
                self.idle()
            time.sleep(min(ahead, self.idle_step))
            ahead = due - time.monotonic()


class Closing:
    """Context manager closing a sink even when the loop is interrupted (flushes on Ctrl-C)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __enter__(self) -> Sink:
        return self.sink

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sink.close()
