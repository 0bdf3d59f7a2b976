"""Per-card features and the champion model: how fast, on simulated transactions.

    .venv/bin/python -m tests.benchmarks ml     # RTAD_BENCH_ML_ROWS=200000 by default

- ``batch_features``: rows/s over a whole file (what ``rtad train`` / ``compare`` do);
- ``cards_step``: micro-batches over all cards in one call each (states through JSON);
- ``card_step``: one card's micro-batch as the Spark job calls it (state decoded from JSON,
  features, state encoded again), for chunks of 1, 5 and 50 transactions: calls/s and rows/s;
- the champion (``models/champion``): ``score`` and ``reasons`` rows/s on batches of 5,000.
Results: ``docs/benchmarks/results/ml.json``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtad.features.card_features import (
    batch_features,
    card_step,
    cards_step,
    decode_state,
    encode_state,
)
from rtad.features.table import FEATURE_COLUMNS
from rtad.generator.simulator import SimConfig, generate_frame
from rtad.ml.model_store import load_model
from tests.benchmarks import render, results

ROWS = int(os.environ.get("RTAD_BENCH_ML_ROWS", "200000"))
CHAMPION = Path("models/champion")


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out


def bench_batch(tx: pd.DataFrame) -> dict[str, Any]:
    seconds, _ = _timed(batch_features, tx)
    return {"what": "batch_features (whole file)", "rows": len(tx), "rows_per_s": len(tx) / seconds}


def bench_card_step(tx: pd.DataFrame, chunk: int, calls: int = 400) -> dict[str, Any]:
    """A busy card's history in chunks of ``chunk`` rows, state through JSON each time."""
    busiest = tx["user_id"].value_counts().index[0]
    card = tx[tx["user_id"] == busiest].sort_values("timestamp")
    state, _ = card_step(None, card.iloc[:40])
    raw = encode_state(state)
    rest = card.iloc[40:]
    chunks = [rest.iloc[(k * chunk) % len(rest) :][:chunk] for k in range(calls)]
    started = time.perf_counter()
    for rows in chunks:
        state, _ = card_step(decode_state(raw), rows)
        raw = encode_state(state)
    seconds = time.perf_counter() - started
    rows = sum(len(c) for c in chunks)
    return {
        "what": f"card_step, {chunk} row(s) per call",
        "rows": rows,
        "rows_per_s": rows / seconds,
        "calls_per_s": calls / seconds,
        "state_bytes": len(raw),
    }


def bench_cards_step(tx: pd.DataFrame, batch: int = 10_000) -> dict[str, Any]:
    """Micro-batches of ``batch`` rows in arrival order over all cards, states through JSON."""
    stream = tx.sort_values("timestamp", kind="stable", ignore_index=True)
    stored: dict[str, bytes] = {}
    started = time.perf_counter()
    for start in range(0, len(stream), batch):
        rows = stream.iloc[start : start + batch]
        users = rows["user_id"].unique()
        states = {u: decode_state(stored[u]) for u in users if u in stored}
        updated, _ = cards_step(states, rows)
        stored |= {u: encode_state(s) for u, s in updated.items()}
    seconds = time.perf_counter() - started
    cards = tx["user_id"].nunique()
    return {
        "what": f"cards_step, micro-batches of {batch:,} rows ({cards:,} cards)",
        "rows": len(stream),
        "rows_per_s": len(stream) / seconds,
        "calls_per_s": math.ceil(len(stream) / batch) / seconds,
    }


def bench_model(tx: pd.DataFrame) -> list[dict[str, Any]]:
    model = load_model(CHAMPION)
    X = batch_features(tx.iloc[:50_000])[model.feature_names].to_numpy()
    out = []
    for name, fn in (("score", model.score), ("reasons (top 3)", model.reasons)):
        started = time.perf_counter()
        for start in range(0, len(X), 5000):
            fn(X[start : start + 5000])
        seconds = time.perf_counter() - started
        out.append(
            {
                "what": f"champion {name}, batches of 5,000",
                "rows": len(X),
                "rows_per_s": len(X) / seconds,
            }
        )
    return out


def main() -> None:
    load_before = results.load_now()
    customers = max(ROWS // 100, 50)
    tx = generate_frame(SimConfig(count=ROWS, customers=customers, seed=11))
    measured = [
        bench_batch(tx),
        bench_cards_step(tx),
        *(bench_card_step(tx, n) for n in (1, 5, 50)),
        *bench_model(tx),
    ]
    np.testing.assert_(all(r["rows_per_s"] > 0 for r in measured))
    parameters = {"rows": ROWS, "customers": customers, "features": len(FEATURE_COLUMNS)}
    results.write("ml", measured, parameters, load_before)
    render.print_tables("ml")


if __name__ == "__main__":
    main()
