"""The table of features: one row a feature, every list derived from it and consistent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rtad.features import table
from rtad.features.card_features import batch_features
from rtad.features.table import (
    ASPECTS,
    DRIFT_FEATURES,
    FEATURE_COLUMNS,
    FEATURES,
    REASONS,
    SUSPICIOUS_DIRECTION,
    WINDOW_FEATURES,
)


def test_every_feature_once_with_a_description_and_a_direction() -> None:
    assert len(FEATURE_COLUMNS) == len(set(FEATURE_COLUMNS)) == 29
    assert all(f.description for f in FEATURES)
    assert set(SUSPICIOUS_DIRECTION) == set(FEATURE_COLUMNS)
    assert set(SUSPICIOUS_DIRECTION.values()) <= {-1, 0, 1, 2}


def test_derived_lists_name_only_features_of_the_table() -> None:
    names = set(FEATURE_COLUMNS)
    assert set(ASPECTS) <= names and set(DRIFT_FEATURES) <= names
    assert [n for n in FEATURE_COLUMNS if n in WINDOW_FEATURES] == list(WINDOW_FEATURES)
    for reason in REASONS:
        assert {reason.feature, *reason.needs} <= names
    assert len({r.code for r in REASONS}) == len(REASONS)
    assert sorted(r.rank for r in REASONS) == list(range(len(REASONS)))


def test_a_context_feature_has_no_aspect_and_no_reason() -> None:
    for feature in FEATURES:
        if feature.direction == table.CONTEXT:
            assert not feature.aspect and feature.reason is None, feature.name


def test_reason_texts_read_the_row() -> None:
    row = dict.fromkeys(FEATURE_COLUMNS, 0.0) | {
        "amount_ratio_log": float(np.log(8.3)),
        "travel_km": 912.0,
        "travel_gap_log_s": float(np.log1p(660)),
        "new_merchants_1h": 3.0,
    }
    texts = {r.code: r.text(row) for r in REASONS}
    assert texts["amount_vs_median"] == "amount 8.3x this card's median"
    assert texts["distance_from_previous"] == "912 km from a purchase 11 min earlier"
    assert texts["new_merchant"] == "3 new merchants in the last hour"
    assert texts["new_country"] == "first purchase in this country"


@pytest.mark.parametrize("log_ratio", [1e4, float("inf"), float("nan")])
def test_a_ratio_beyond_any_history_reads_as_huge_not_inf(log_ratio: float) -> None:
    row = dict.fromkeys(FEATURE_COLUMNS, 0.0) | {
        "amount_ratio_log": log_ratio,
        "sum_24h_ratio_log": log_ratio,
    }
    texts = {r.code: r.text(row) for r in REASONS}
    assert texts["amount_vs_median"] == "amount >1,000,000x this card's median"
    assert texts["spend_24h"] == "spent >1,000,000x this card's median in 24 h"


def test_the_kernel_writes_each_window_feature_in_its_column() -> None:
    """Three purchases of one card, the last far away and minutes later: each named column
    holds the value its description promises."""
    times = pd.to_datetime(["2026-01-05T10:00Z", "2026-01-05T10:04Z", "2026-01-05T10:09Z"])
    tx = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c"],
            "user_id": "u",
            "merchant_id": ["m1", "m1", "m2"],
            "amount": [10.0, 10.0, 40.0],
            "latitude": [48.85, 48.85, 40.42],
            "longitude": [2.35, 2.35, -3.70],
            "timestamp": times,
        }
    )
    last = batch_features(tx).iloc[-1]
    assert last["count_10m"] == 3 and last["count_1h"] == 3 and last["count_24h"] == 3
    assert last["history_log_count"] == pytest.approx(np.log1p(2))
    assert last["amount_ratio_log"] == pytest.approx(np.log(4.0))
    assert last["gap_log_s"] == pytest.approx(np.log1p(300))
    assert 1000 < last["home_km"] < 1100
    assert last["home_km"] == pytest.approx(last["nearest_km"])
    assert last["new_merchants_1h"] == 1 and last["distinct_merchants_24h"] == 2
    assert last["merchant_new"] == 1 and last["merchant_visits_log"] == 0
