"""File sinks and pacing of rtad generate."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from rtad.common.errors import RtadError
from rtad.generator.runner import run_generate
from rtad.generator.simulator import SimConfig, generate_records
from rtad.generator.sinks import Pacer, open_file_sink

CONFIG = SimConfig(seed=7, count=400, customers=30, merchants=300, fraud_rate=0.05)


def test_jsonl_and_parquet_hold_the_same_records(tmp_path: Path) -> None:
    expected = list(generate_records(CONFIG))
    for name in ("tx.jsonl", "tx.parquet"):
        summary = run_generate(CONFIG, open_file_sink(tmp_path / name))
        assert summary.records == 400 and summary.fraud == sum(r["is_fraud"] for r in expected)
    lines = [orjson.loads(x) for x in (tmp_path / "tx.jsonl").read_bytes().splitlines()]
    assert lines == expected
    rows = pq.read_table(tmp_path / "tx.parquet").to_pylist()
    assert [r["transaction_id"] for r in rows] == [r["transaction_id"] for r in expected]
    genuine = next(r for r in rows if r["is_fraud"] == 0)
    assert genuine["fraud_scenario"] is None  # genuine rows: null scenario in Parquet
    assert {k: v for k, v in rows[0].items() if v is not None} == expected[0]


def test_unknown_extension_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RtadError, match=r"\.jsonl or \.parquet"):
        open_file_sink(tmp_path / "tx.csv")
    with pytest.raises(RtadError, match="does not exist"):
        open_file_sink(tmp_path / "missing" / "tx.jsonl")


def test_pacer_holds_the_rate() -> None:
    pacer = Pacer(200.0)
    started = time.monotonic()
    for _ in range(40):
        pacer.tick()
    assert time.monotonic() - started >= 0.19  # 40 ticks at 200/s cannot finish sooner
    with pytest.raises(RtadError):
        Pacer(0)


def test_pacer_calls_idle_while_it_waits() -> None:
    calls: list[float] = []
    pacer = Pacer(20.0, idle=lambda: calls.append(time.monotonic()), idle_step=0.01)
    started = time.monotonic()
    for _ in range(4):
        pacer.tick()  # 4 ticks at 20/s: ~0.2 s asleep
    assert time.monotonic() - started >= 0.19
    assert len(calls) >= 10  # at least every idle_step while asleep
    assert max(b - a for a, b in zip([started, *calls], calls, strict=False)) < 0.05
