"""Transaction files as DataFrames for training and comparison.

Records are read and validated by the generator's readers (the same checks as ``rtad replay``);
invalid records are left out and counted, never silently: a warning says how many and why
the first one was refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from rtad.common.errors import RtadError
from rtad.common.schema import ALL_FIELDS, REQUIRED_FIELDS, InvalidRecord, Transaction

log = logging.getLogger(__name__)


class LoadReport:
    """How many records a file held and which were refused."""

    def __init__(self) -> None:
        self.valid = 0
        self.invalid = 0
        self.first_error = ""


def load_transactions(path: Path | str, report: LoadReport | None = None) -> pd.DataFrame:
    """Valid records of a JSONL, CSV or Parquet file, one row each, in file order.

    ``timestamp`` is tz-aware UTC; optional columns are present only when some record has
    them. Raises :class:`RtadError` when the file cannot be read or holds no valid record.
    """
    from rtad.common.readers import open_records

    path = Path(path)
    report = report or LoadReport()
    items, _ = open_records(path)
    columns: dict[str, list[Any]] = {name: [] for name in ALL_FIELDS}
    for line, _raw, record in items:
        if isinstance(record, InvalidRecord):
            report.invalid += 1
            report.first_error = report.first_error or f"line {line}: {record}"
            continue
        report.valid += 1
        _append(columns, record)
    if report.invalid:
        log.warning(
            "%s: left out %d invalid record(s) of %d (first: %s)",
            path.name,
            report.invalid,
            report.valid + report.invalid,
            report.first_error,
        )
    if not report.valid:
        raise RtadError(f"{path}: no valid transaction record")
    return _frame(columns)


def _append(columns: dict[str, list[Any]], tx: Transaction) -> None:
    for name, values in columns.items():
        values.append(getattr(tx, name))


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {k: v for k, v in columns.items() if any(x is not None for x in v) or k in _REQUIRED}
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    if "is_fraud" in frame:
        frame["is_fraud"] = frame["is_fraud"].fillna(0).astype("int8")
    return frame


_REQUIRED = frozenset(REQUIRED_FIELDS)
