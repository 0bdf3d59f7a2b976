"""Reason codes: a small fixed set, strongest first, with the row's numbers in the text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.reasons import CODES, RARE, ReasonExplainer, reference_grid

NAMES = list(FEATURE_COLUMNS)


@pytest.fixture(scope="module")
def explainer() -> ReasonExplainer:
    rng = np.random.default_rng(0)
    train = np.zeros((5000, len(NAMES)))
    col = {n: j for j, n in enumerate(NAMES)}
    train[:, col["amount_ratio_log"]] = rng.normal(0, 0.5, 5000)
    train[:, col["travel_km"]] = rng.exponential(5, 5000)
    train[:, col["speed_log_kmh"]] = rng.exponential(1, 5000)
    train[:, col["gap_log_s"]] = rng.normal(9, 1, 5000)
    train[:, col["count_10m"]] = 1 + (rng.random(5000) < 0.05)
    train[:, col["home_km"]] = rng.exponential(10, 5000)
    return ReasonExplainer(NAMES, reference_grid(train, NAMES))


def row(**values: float) -> np.ndarray:
    x = np.zeros(len(NAMES))
    x[NAMES.index("count_10m")] = 1
    x[NAMES.index("gap_log_s")] = 9
    for name, value in values.items():
        x[NAMES.index(name)] = value
    return x


def test_codes_are_a_small_fixed_set() -> None:
    assert len(CODES) == len(set(CODES)) <= 16
    assert {"amount_vs_median", "distance_from_previous", "velocity_10m"} <= set(CODES)


def test_texts_carry_the_numbers(explainer: ReasonExplainer) -> None:
    speed = math.log1p(912 / (11 / 60))
    travel = row(travel_km=912, speed_log_kmh=speed, travel_gap_log_s=math.log1p(660))
    spend = row(amount_ratio_log=math.log(8.3))
    burst = row(count_10m=5)
    out = explainer.explain(np.array([travel, spend, burst]), top_k=3)
    assert out[0][0] == {
        "code": "distance_from_previous",
        "text": "912 km from a purchase 11 min earlier",
    }
    assert out[1][0] == {"code": "amount_vs_median", "text": "amount 8.3x this card's median"}
    assert out[2][0] == {"code": "velocity_10m", "text": "5 purchases in the last 10 min"}


def test_strongest_first_and_only_rare_ones_after_the_first(explainer: ReasonExplainer) -> None:
    X = np.array([row(amount_ratio_log=3.0, home_km=400.0), row()])
    p = explainer.rarity(X)
    both, ordinary = explainer.explain(X, top_k=3)
    assert {r["code"] for r in both[:2]} == {"amount_vs_median", "far_from_home"}
    assert len(ordinary) == 1  # always one reason, the others only when rare
    assert p.min(axis=1)[0] <= RARE


def test_vectorised_over_many_rows(explainer: ReasonExplainer) -> None:
    X = np.tile(row(amount_ratio_log=2.0), (1000, 1))
    out = explainer.explain(X, top_k=3)
    assert len(out) == 1000 and out[0] == out[-1]


def test_model_without_a_feature_never_cites_it() -> None:
    names = ["amount_ratio_log"]
    explainer = ReasonExplainer(names, reference_grid(np.zeros((10, 1)), names))
    assert [r.code for r in explainer.reasons] == ["amount_vs_median"]


def test_counts_read_naturally(explainer: ReasonExplainer) -> None:
    X = np.array([row(new_merchants_1h=3.0), row(new_merchants_1h=1.0), row(small_count_1h=1.0)])
    texts = [r[0]["text"] for r in explainer.explain(X, top_k=1)]
    assert texts == [
        "3 new merchants in the last hour",
        "first purchase at this merchant",
        "1 small charge in the last hour",
    ]
