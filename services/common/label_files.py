"""Label files: verdicts from JSONL or CSV, each row validated with the labels contract.

What ``rtad label FILE`` writes to the labels stream and what ``rtad train --labels FILE``
learns from are read here, the same way, by the transaction files' readers
(:mod:`rtad.common.readers`: streamed, CSV records kept as written for the dead letters):
:func:`read_labels` yields ``(line, raw, label_or_error)``, so a caller can dead-letter or
count the bad rows with their reasons.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rtad.common.errors import RtadError
from rtad.common.labels import InvalidLabel, Label, decode_label_json, label_from_mapping
from rtad.common.readers import FORMATS, RecordKind, read_csv, read_jsonl

LabelItem = tuple[int, bytes, Label | InvalidLabel]
REQUIRED_COLUMNS = frozenset({"transaction_id", "user_id", "verdict", "source"})


def require_label_columns(path: Path, columns: list[str]) -> None:
    """A CSV whose header lacks a required label field is refused whole."""
    missing = REQUIRED_COLUMNS - set(columns)
    if missing:
        raise RtadError(f"{path.name}: the CSV header lacks {', '.join(sorted(missing))}")


LABELS = RecordKind(decode_label_json, label_from_mapping, InvalidLabel, require_label_columns)


def read_labels(path: Path) -> Iterator[LabelItem]:
    """``(line, raw, label_or_error)`` for each row of a JSONL or CSV file."""
    if not path.exists():
        raise RtadError(f"no such file: {path}")
    kind = FORMATS.get(path.suffix.lower())
    if kind not in ("jsonl", "csv") or path.is_dir():
        raise RtadError(f"cannot read {path.name}: use a .jsonl or .csv file of labels")
    items, _progress = (read_jsonl if kind == "jsonl" else read_csv)(path, LABELS)
    return items
