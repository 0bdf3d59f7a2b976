"""Reading transaction files: every record comes out validated or with its reason."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtad.common.errors import RtadError
from rtad.common.readers import open_records
from rtad.common.schema import REQUIRED_FIELDS, InvalidRecord, Transaction
from rtad.generator.simulator import SimConfig, generate_records

ROWS = [
    {k: r[k] for k in REQUIRED_FIELDS}
    for r in generate_records(SimConfig(seed=2, count=40, customers=10, merchants=200))
]


def split(path: Path) -> tuple[list[Transaction], list[tuple[int, bytes, InvalidRecord]]]:
    items, progress = open_records(path)
    good, bad = [], []
    for line, raw, result in items:
        if isinstance(result, Transaction):
            good.append(result)
        else:
            bad.append((line, raw, result))
    assert progress.done == progress.total
    return good, bad


def test_jsonl_bad_lines_carry_line_text_and_reason(tmp_path: Path) -> None:
    lines = [orjson.dumps(r).decode() for r in ROWS]
    lines[3] = '{"transaction_id": "t", "amount": '  # broken JSON
    lines[7] = orjson.dumps({**ROWS[7], "amount": -5}).decode()
    lines[9] = orjson.dumps({k: v for k, v in ROWS[9].items() if k != "currency"}).decode()
    lines.insert(12, "")  # blank lines hold no record
    path = tmp_path / "tx.jsonl"
    path.write_text("\n".join(lines) + "\n")
    good, bad = split(path)
    assert len(good) == len(ROWS) - 3
    assert [line for line, _, _ in bad] == [4, 8, 10]
    assert bad[0][1] == lines[3].encode() and "malformed JSON" in str(bad[0][2])
    assert "amount" in str(bad[1][2]) and "currency" in str(bad[2][2])
    assert [tx.transaction_id for tx in good[:3]] == [r["transaction_id"] for r in ROWS[:3]]


def test_csv_with_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*REQUIRED_FIELDS, "channel"])
        writer.writeheader()
        for i, row in enumerate(ROWS):
            row = {**row, "channel": ""}  # a blank optional cell means absent
            if i == 5:
                row["timestamp"] = "2026-01-05 10:00"  # no time zone
            if i == 6:
                row["amount"] = "abc"
            writer.writerow(row)
        handle.write("only,three,cells\n")
    latin1 = ",".join(str(ROWS[0][k]) for k in REQUIRED_FIELDS).replace(",", "\xe9,", 1)
    with path.open("ab") as handle:
        handle.write(latin1.encode("latin-1") + b"\n")
    good, bad = split(path)
    assert len(good) == len(ROWS) - 2 and all(tx.channel is None for tx in good)
    assert [line for line, _, _ in bad] == [7, 8, len(ROWS) + 2, len(ROWS) + 3]  # header: 1
    assert "timestamp" in str(bad[0][2])
    assert b"abc" in bad[1][1] and "amount" in str(bad[1][2])
    assert bad[2][1] == b"only,three,cells" and "columns" in str(bad[2][2])
    # a cell that is not UTF-8 is refused (it could not be written as JSON), bytes kept as read
    assert bad[3][1] == latin1.encode("latin-1") and "UTF-8" in str(bad[3][2])


def test_parquet_in_batches_with_native_types(tmp_path: Path) -> None:
    table = pa.Table.from_pylist([{**r, "amount": float(r["amount"])} for r in ROWS])
    bad_amount = table.column("amount").to_pylist()
    bad_amount[2] = -1.0
    table = table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(bad_amount))
    path = tmp_path / "tx.parquet"
    pq.write_table(table, path, row_group_size=7)
    good, bad = split(path)
    assert len(good) == len(ROWS) - 1
    assert bad[0][0] == 3 and b'"amount":-1.0' in bad[0][1]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("missing.jsonl", None, "no such file"),
        ("tx.xlsx", b"x", "unknown extension"),
        ("broken.parquet", b"not parquet at all", "as Parquet"),
        ("no-amount.csv", b"transaction_id,timestamp,user_id\nt1,x,u1\n", "no column merchant_id"),
    ],
)
def test_unreadable_files_are_one_clear_error(
    tmp_path: Path, name: str, content: bytes | None, needle: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RtadError, match=needle):
        open_records(path)


def test_parquet_without_a_required_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "partial.parquet"
    row = {k: v for k, v in ROWS[0].items() if k != "amount"}
    pq.write_table(pa.Table.from_pylist([row]), path)
    with pytest.raises(RtadError, match="no column amount"):
        open_records(path)


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".csv.gz"])
def test_gzipped_text_files(tmp_path: Path, suffix: str) -> None:
    if suffix == ".jsonl.gz":
        text = "".join(orjson.dumps(r).decode() + "\n" for r in ROWS)
    else:
        text = ",".join(REQUIRED_FIELDS) + "\n"
        text += "".join(",".join(str(r[k]) for k in REQUIRED_FIELDS) + "\n" for r in ROWS)
    path = tmp_path / f"tx{suffix}"
    path.write_bytes(gzip.compress(text.encode()))
    good, bad = split(path)
    assert [tx.transaction_id for tx in good] == [r["transaction_id"] for r in ROWS] and not bad


def test_broken_gzip_and_gzipped_parquet_are_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tx.jsonl.gz"
    whole = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    path.write_bytes(whole[: len(whole) // 2])  # a truncated download
    items, _ = open_records(path)
    with pytest.raises(RtadError, match="cannot read tx.jsonl.gz"):
        list(items)
    (tmp_path / "tx.parquet.gz").write_bytes(b"x")
    with pytest.raises(RtadError, match="unknown extension"):
        open_records(tmp_path / "tx.parquet.gz")
