"""Small labelled transaction frames and feature matrices for the ML tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_transactions(cards: int = 12, per_card: int = 40, seed: int = 0) -> pd.DataFrame:
    """Genuine habits per card plus a few labelled frauds (far away, large, in bursts)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-05T00:00:00Z")
    frames = []
    for c in range(cards):
        lat, lon = rng.uniform(43, 50), rng.uniform(-1, 8)
        minutes = np.cumsum(rng.exponential(600, per_card))
        frame = pd.DataFrame(
            {
                "transaction_id": [f"c{c}-{k}" for k in range(per_card)],
                "timestamp": start + pd.to_timedelta(minutes, unit="min"),
                "user_id": f"c{c}",
                "merchant_id": [f"m{c}-{k}" for k in rng.integers(0, 6, per_card)],
                "amount": np.round(rng.lognormal(3, 0.4, per_card), 2),
                "currency": "EUR",
                "latitude": lat + rng.normal(0, 0.02, per_card),
                "longitude": lon + rng.normal(0, 0.02, per_card),
                "is_fraud": 0,
                "fraud_scenario": None,
            }
        )
        fraud = rng.choice(np.arange(per_card // 2, per_card), 2, replace=False)
        frame.loc[fraud, ["amount", "latitude", "longitude"]] = [900.0, 40.7, -74.0]
        frame.loc[fraud, ["is_fraud", "fraud_scenario"]] = [1, "impossible_travel"]
        frame.loc[fraud, "merchant_id"] = "fraudster"
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values("timestamp", ignore_index=True)


@pytest.fixture
def transactions() -> pd.DataFrame:
    return make_transactions()


@pytest.fixture
def transactions_file(tmp_path, transactions: pd.DataFrame):
    path = tmp_path / "tx.parquet"
    transactions.astype({"timestamp": "datetime64[us, UTC]"}).to_parquet(path, index=False)
    return path
