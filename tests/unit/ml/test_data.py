"""load_transactions: JSONL, CSV and Parquet into one validated frame."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from rtad.common.errors import RtadError
from rtad.ml.data import LoadReport, load_transactions

GOOD = (
    '{"transaction_id":"t1","timestamp":"2026-01-05T10:00:00+01:00","user_id":"u1",'
    '"merchant_id":"m1","amount":12.5,"currency":"EUR","latitude":48.85,"longitude":2.35,'
    '"is_fraud":1,"fraud_scenario":"card_testing"}'
)
BAD = GOOD.replace('"amount":12.5', '"amount":-1').replace('"t1"', '"t2"')


def test_jsonl_keeps_valid_records_and_counts_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tx.jsonl"
    path.write_text(f"{GOOD}\n{BAD}\n")
    report = LoadReport()
    with caplog.at_level(logging.WARNING):
        frame = load_transactions(path, report)
    assert frame["transaction_id"].tolist() == ["t1"]
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2026-01-05T09:00:00Z")
    assert frame["is_fraud"].tolist() == [1] and "channel" not in frame
    assert (report.valid, report.invalid) == (1, 1)
    assert "line 2" in caplog.text and "amount" in caplog.text


def test_csv_and_parquet_give_the_same_frame(tmp_path: Path) -> None:
    jsonl = tmp_path / "tx.jsonl"
    jsonl.write_text(GOOD + "\n")
    expected = load_transactions(jsonl)
    expected.to_csv(tmp_path / "tx.csv", index=False)
    micros = expected.astype({"timestamp": "datetime64[us, UTC]"})  # what Spark/Arrow write
    micros.to_parquet(tmp_path / "tx.parquet", index=False)
    for name in ("tx.csv", "tx.parquet"):
        got = load_transactions(tmp_path / name)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_a_file_without_valid_records_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(BAD + "\n")
    with pytest.raises(RtadError, match="no valid transaction record"):
        load_transactions(path)
