"""Label files: verdicts from JSONL or CSV, each row validated with the labels contract.

What ``rtad label FILE`` writes to the labels stream and what ``rtad train --labels FILE``
learns from are read here, the same way: :func:`read_labels` yields ``(line, raw,
label_or_error)``, so a caller can dead-letter or count the bad rows with their reasons.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from rtad.common.errors import RtadError
from rtad.common.labels import InvalidLabel, Label, decode_label_json, label_from_mapping

LabelItem = tuple[int, bytes, Label | InvalidLabel]
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


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
