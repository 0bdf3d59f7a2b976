"""``rtad label FILE``: verdicts from a JSONL or CSV file into the labels stream.

Every row is validated with the labels contract (:mod:`rtad.common.labels`); a valid one is
written, with ``given_at`` set to its arrival time when the file has none, to the labels
stream of its card's shard; a bad one goes to the dead-letter stream with its one-line reason,
the original text and ``file:line``. Verdicts for transactions nobody has seen are written as
any other (they are training examples); duplicates are written too, and the latest counts
when the stream is read (:func:`rtad.common.labels.latest_verdicts`).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from rtad.common.errors import RtadError
from rtad.common.labels import (
    STAGE,
    InvalidLabel,
    Label,
    decode_label_json,
    encode_label,
    label_from_mapping,
    with_arrival,
)
from rtad.common.redis_streams import StreamProducer
from rtad.common.streams import shard_of

LabelItem = tuple[int, bytes, Label | InvalidLabel]
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


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


def read_labels(path: Path) -> Iterator[LabelItem]:
    """``(line, raw, label_or_error)`` for each row of a JSONL or CSV file."""
    if not path.exists():
        raise RtadError(f"no such file: {path}")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None or path.is_dir():
        raise RtadError(f"cannot read {path.name}: use a .jsonl or .csv file of labels")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RtadError(f"cannot read {path}: {exc.strerror}") from None
    return _jsonl(text) if kind == "jsonl" else _csv(path, text)


def _jsonl(text: bytes) -> Iterator[LabelItem]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, line, decode_label_json(line)
            except InvalidLabel as exc:
                yield number, line, exc


def _csv(path: Path, text: bytes) -> Iterator[LabelItem]:
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RtadError(f"cannot read {path.name}: not UTF-8 ({exc.reason})") from None
    lines = decoded.splitlines()
    rows = csv.DictReader(io.StringIO(decoded))
    missing = {"transaction_id", "user_id", "verdict", "source"} - set(rows.fieldnames or ())
    if missing:
        raise RtadError(f"{path.name}: the CSV header lacks {', '.join(sorted(missing))}")
    for row in rows:
        number = rows.line_num
        raw = lines[number - 1].encode() if number <= len(lines) else b""
        if None in row:
            yield number, raw, InvalidLabel(f"{len(row[None])} cell(s) more than the header")
            continue
        try:
            yield number, raw, label_from_mapping(row)
        except InvalidLabel as exc:
            yield number, raw, exc


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
