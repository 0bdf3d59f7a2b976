"""Read a transaction file record by record, validating each: JSONL, CSV or Parquet.

Files are streamed, never loaded whole: JSONL and CSV line by line, Parquet in record
batches (``pyarrow.parquet.ParquetFile.iter_batches``). Each reader yields
``(line, raw, tx_or_error)``: the 1-based line (row for Parquet), the original text as bytes
(for the dead-letter entry), and either the validated :class:`Transaction` or the
:class:`InvalidRecord` saying what is wrong. The JSONL and CSV readers take a
:class:`RecordKind` to read another contract the same way (label files,
:mod:`rtad.common.label_files`).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from rtad.common.errors import RtadError
from rtad.common.schema import (
    REQUIRED_FIELDS,
    InvalidRecord,
    Transaction,
    decode_json,
    from_mapping,
)

Item = tuple[int, bytes, Transaction | InvalidRecord]
#: A row read by a :class:`RecordKind`: its record or its kind's ``invalid`` error.
KindItem = tuple[int, bytes, Any]
FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
PARQUET_BATCH = 8192


def require_columns(path: Path, columns: list[str]) -> None:
    """A file whose header lacks a required field is refused whole (no row could be valid)."""
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise RtadError(f"{path.name} has no column {', '.join(missing)} (required fields)")


@dataclass(frozen=True)
class RecordKind:
    """What a text file holds: how a JSON line and a CSV row (a mapping of strings) become a
    record, the error that refuses one, and the check of a CSV header."""

    decode_json: Callable[[bytes], Any]
    from_mapping: Callable[[dict[str, Any]], Any]
    invalid: type[ValueError]
    require_columns: Callable[[Path, list[str]], None]


TRANSACTIONS = RecordKind(decode_json, from_mapping, InvalidRecord, require_columns)


class Progress:
    """How far a reader is: ``done`` out of ``total`` (bytes for text files, rows for Parquet).

    ``poll`` (e.g. the file's ``tell``) is asked only when someone looks, so the hot loop does
    not count.
    """

    def __init__(self, total: int, poll: Callable[[], int] | None = None) -> None:
        self.total = total
        self.poll = poll
        self._done = 0

    @property
    def done(self) -> int:
        if self.poll is not None:
            try:
                self._done = self.poll()
            except (OSError, ValueError):  # the file is closed: it was read to the end
                self._done = self.total
        return self._done

    @done.setter
    def done(self, value: int) -> None:
        self._done = value


def format_of(path: Path) -> str:
    """The reader for ``path``'s extension (``.gz`` allowed on text formats); one clear line
    when it is unknown or the file is missing."""
    if not path.exists():
        raise RtadError(f"no such file: {path}")
    if path.is_dir():
        raise RtadError(f"{path} is a directory, not a transaction file")
    suffixes = [x.lower() for x in path.suffixes]
    gzipped = suffixes[-1:] == [".gz"]
    kind = FORMATS.get(suffixes[-2] if gzipped and len(suffixes) > 1 else path.suffix.lower())
    if kind is None or (gzipped and kind == "parquet"):
        known = ", ".join(sorted(FORMATS)) + " (text formats also .gz)"
        raise RtadError(f"cannot read {path.name}: unknown extension (use one of {known})")
    return kind


def open_records(path: Path) -> tuple[Iterator[Item], Progress]:
    """An iterator of validated records of ``path`` and its progress counter."""
    kind = format_of(path)
    readers: dict[str, Callable[[Path], tuple[Iterator[Item], Progress]]] = {
        "jsonl": read_jsonl,
        "csv": read_csv,
        "parquet": read_parquet,
    }
    return readers[kind](path)


def _open_binary(path: Path) -> tuple[IO[bytes], Progress]:
    """The file's bytes (decompressed for ``.gz``) and a progress over the bytes on disk."""
    try:
        raw = path.open("rb", buffering=1 << 20)
    except OSError as exc:
        raise RtadError(f"cannot read {path}: {exc.strerror}") from None
    progress = Progress(path.stat().st_size, poll=raw.tell)
    if path.suffix.lower() != ".gz":
        return raw, progress
    return io.BufferedReader(gzip.GzipFile(fileobj=raw), 1 << 20), progress  # type: ignore[arg-type]


@contextmanager
def _reading(path: Path, handle: IO[Any]) -> Iterator[None]:
    """Close ``handle`` at the end; a file that breaks while read (bad gzip...) is one line."""
    with handle:
        try:
            yield
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise RtadError(f"cannot read {path.name}: {exc}") from None


def read_jsonl(path: Path, kind: RecordKind = TRANSACTIONS) -> tuple[Iterator[KindItem], Progress]:
    """One JSON object per line; blank lines are skipped (they hold no record)."""
    handle, progress = _open_binary(path)
    decode, invalid = kind.decode_json, kind.invalid

    def items() -> Iterator[KindItem]:
        with _reading(path, handle):
            for number, line in enumerate(handle, 1):
                try:  # the trailing newline is JSON whitespace: no copy needed on the fast path
                    yield number, line, decode(line)
                except invalid as exc:
                    raw = line.rstrip(b"\r\n")
                    if raw.strip():
                        yield number, raw, exc

    return items(), progress


class _LineTap:
    """Feeds lines to ``csv.reader`` while keeping the raw text of the current record."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.lines: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.lines.append(line)
        return line


def read_csv(path: Path, kind: RecordKind = TRANSACTIONS) -> tuple[Iterator[KindItem], Progress]:
    """CSV with a header row naming the fields; blank optional cells mean "absent"."""
    binary, progress = _open_binary(path)
    # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name
    handle = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    tap = _LineTap(handle)
    reader = csv.reader(tap)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        handle.close()
        return iter(()), progress
    except (csv.Error, OSError, EOFError) as exc:
        handle.close()
        raise RtadError(f"cannot read {path.name}: bad CSV header: {exc}") from None
    try:
        kind.require_columns(path, header)
    except RtadError:
        handle.close()
        raise
    return _csv_items(path, handle, reader, tap, header, kind), progress


def _csv_items(
    path: Path, handle: IO[str], reader: Any, tap: _LineTap, header: list[str], kind: RecordKind
) -> Iterator[KindItem]:
    from_row, invalid = kind.from_mapping, kind.invalid
    with _reading(path, handle):
        while True:
            tap.lines.clear()
            first = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield first, _raw(tap.lines), invalid(f"bad CSV: {exc}")
                continue
            if not any(c.strip() for c in cells):
                continue
            text = "".join(tap.lines).rstrip("\r\n")
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes ride in the cells as lone surrogates
                yield first, text.encode("utf-8", "surrogateescape"), invalid("not UTF-8")
                continue
            if len(cells) != len(header):
                reason = f"expected {len(header)} CSV columns, got {len(cells)}"
                yield first, raw, invalid(reason)
                continue
            try:
                yield first, raw, from_row(dict(zip(header, cells, strict=True)))
            except invalid as exc:
                yield first, raw, exc


def _raw(lines: list[str]) -> bytes:
    return "".join(lines).rstrip("\r\n").encode("utf-8", "surrogateescape")


def read_parquet(path: Path) -> tuple[Iterator[Item], Progress]:
    """Parquet, batch by batch; native types (timestamps, numbers) are accepted as they are."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(str(path))
    except (pa.ArrowException, OSError) as exc:
        raise RtadError(f"cannot read {path.name} as Parquet: {_first_line(exc)}") from None
    try:
        require_columns(path, parquet.schema_arrow.names)
    except RtadError:
        parquet.close()
        raise
    progress = Progress(parquet.metadata.num_rows)

    def items() -> Iterator[Item]:
        number = 0
        with parquet:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
                for row in batch.to_pylist():
                    number += 1
                    progress.done += 1
                    try:
                        yield number, b"", from_mapping(row)
                    except InvalidRecord as exc:
                        yield number, _row_text(row), exc

    return items(), progress


def _row_text(row: dict[str, Any]) -> bytes:
    """A Parquet row as JSON (the closest thing to its original text) for the dead-letter."""
    return orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
