"""Per-card features on hand-made sequences; chunked calls equal one call."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtad.features.card_features import (
    _card_time_order,  # the order every feature relies on
    batch_features,
    card_step,
    card_step_matrix,
    cards_step,
    decode_state,
    encode_state,
    new_state,
)
from rtad.features.table import FEATURE_COLUMNS
from rtad.features.window_kernel import GAP_NEUTRAL_S, MERCHANT_MEMORY, WINDOW

T0 = pd.Timestamp("2026-03-02T09:00:00Z")


def card(rows: list[dict], user: str = "u1") -> pd.DataFrame:
    """A card's transactions from (minutes, amount[, merchant, lat, lon, extras]) dicts."""
    records = []
    for k, row in enumerate(rows):
        records.append(
            {
                "transaction_id": f"{user}-t{k}",
                "timestamp": T0 + pd.Timedelta(minutes=row.get("min", 60 * 24 * k)),
                "user_id": user,
                "merchant_id": row.get("merchant", "m1"),
                "amount": row.get("amount", 20.0),
                "currency": row.get("currency", "EUR"),
                "latitude": row.get("lat", 48.85),
                "longitude": row.get("lon", 2.35),
                **{k: v for k, v in row.items() if k in ("channel", "merchant_category")},
            }
        )
    return pd.DataFrame.from_records(records)


def last(rows: list[dict]) -> pd.Series:
    return batch_features(card(rows)).iloc[-1]


def test_output_has_ids_and_every_feature_in_order() -> None:
    out = batch_features(card([{}, {}]))
    assert list(out.columns) == ["transaction_id", "user_id", "event_time", *FEATURE_COLUMNS]
    assert str(out["event_time"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(
        out["event_time"].dtype
    )
    assert np.isfinite(out[list(FEATURE_COLUMNS)].to_numpy()).all()


def test_first_transaction_gets_neutral_values() -> None:
    first = batch_features(card([{"amount": 999.0}])).iloc[0]
    assert first["history_log_count"] == 0
    assert first["amount_ratio_log"] == first["amount_robust_z"] == 0
    assert first["travel_km"] == first["home_km"] == first["speed_log_kmh"] == 0
    assert first["gap_log_s"] == pytest.approx(math.log1p(GAP_NEUTRAL_S))
    assert first["merchant_new"] == 0 and first["hour_rarity"] == 0
    assert first["count_10m"] == first["count_24h"] == 1


def test_amount_against_the_cards_median_is_robust_to_one_outlier() -> None:
    rows = [{"amount": a} for a in (10, 12, 10, 5000, 11, 10)] + [{"amount": 83.0}]
    out = last(rows)
    median = math.sqrt(10 * 11)  # the median is taken in log space
    assert math.exp(out["amount_ratio_log"]) == pytest.approx(83 / median)
    assert out["amount_robust_z"] > 5
    assert out["history_log_count"] == pytest.approx(math.log1p(6))


def test_spread_is_floored_so_constant_amounts_do_not_explode() -> None:
    out = last([{"amount": 9.99}] * 5 + [{"amount": 10.99}])
    assert out["amount_spread"] == 0
    assert out["amount_robust_z"] == pytest.approx(math.log(10.99 / 9.99) / 0.25)


def test_distance_and_speed_from_the_previous_purchase() -> None:
    paris, new_york = (48.8566, 2.3522), (40.7128, -74.0060)
    rows = [{"min": 0, "lat": paris[0], "lon": paris[1]}]
    rows.append({"min": 30, "lat": new_york[0], "lon": new_york[1]})
    out = last(rows)
    assert out["travel_km"] == pytest.approx(5837, rel=0.01)
    assert math.expm1(out["speed_log_kmh"]) == pytest.approx((out["travel_km"] - 30) * 2)
    assert math.expm1(out["gap_log_s"]) == pytest.approx(1800)
    assert math.expm1(out["travel_gap_log_s"]) == pytest.approx(1800)


def test_every_purchase_of_a_far_burst_is_fast_but_home_is_no_journey() -> None:
    paris = [{"min": m, "lat": 48.8566, "lon": 2.3522} for m in (0, 5, 10, 15)]
    burst = [{"min": m, "lat": 40.7128, "lon": -74.0060} for m in (30, 40)]  # New York
    burst.append({"min": 41, "lat": 40.75, "lon": -73.99})  # 4 km further, a minute later
    back_home = {"min": 45, "lat": 48.86, "lon": 2.35}
    out = batch_features(card([*paris, *burst, back_home]))
    assert (np.expm1(out["speed_log_kmh"].iloc[4:7]) > 5000).all()  # measured from Paris
    assert math.expm1(out["travel_gap_log_s"].iloc[5]) == pytest.approx(25 * 60)
    assert out["speed_log_kmh"].iloc[7] == 0  # at home: the New York ones were the odd ones
    local = last([{"min": 0}, {"min": 1, "lat": 48.9, "lon": 2.4}])
    assert local["speed_log_kmh"] == 0


def test_home_is_the_median_place_so_one_trip_does_not_move_it() -> None:
    home = [{"lat": 48.85, "lon": 2.35}] * 4 + [{"lat": 40.0, "lon": -74.0}]
    out = last([*home, {"lat": 45.76, "lon": 4.84}])  # Lyon
    assert out["home_km"] == pytest.approx(392, rel=0.02)


def test_velocity_counts_and_sums_by_event_time() -> None:
    rows = [{"min": 0, "amount": 10.0}, {"min": 5, "amount": 10.0}]  # > 24 h before the last
    rows += [{"min": 24 * 60 + m, "amount": 10.0} for m in (0, 3, 6, 9)]
    out = last(rows)
    assert (out["count_10m"], out["count_1h"], out["count_24h"]) == (4, 4, 4)
    assert math.exp(out["sum_1h_ratio_log"]) == pytest.approx(4.0)


def test_small_amount_bursts_are_counted() -> None:
    usual = [{"min": 60 * 24 * k, "amount": 50.0} for k in range(5)]
    burst = [{"min": 60 * 24 * 5 + k, "amount": 1.0, "merchant": f"x{k}"} for k in range(4)]
    out = batch_features(card(usual + burst))
    assert out["small_count_1h"].tolist()[-4:] == [1, 2, 3, 4]
    assert out["new_merchants_24h"].iloc[-1] == 4
    assert out["distinct_merchants_24h"].iloc[-1] == 4


def test_merchant_novelty_and_visits() -> None:
    out = batch_features(card([{"merchant": m} for m in ("a", "b", "a", "c", "a")]))
    assert out["merchant_new"].tolist() == [0, 1, 0, 1, 0]
    assert np.expm1(out["merchant_visits_log"]).round().tolist() == [0, 0, 1, 0, 2]


def test_merchant_memory_is_bounded_and_least_recently_used() -> None:
    rows = [{"merchant": f"m{k}", "min": k} for k in range(MERCHANT_MEMORY + 1)]
    rows.append({"merchant": "m0", "min": 10_000})
    state, out = card_step(None, card(rows))
    assert len(state["merchants"]) == 2 * MERCHANT_MEMORY  # flat [key, visits, ...]
    assert out["merchant_new"].iloc[-1] == 1  # m0 was forgotten


def test_hour_rarity_follows_the_cards_habits() -> None:
    mornings = [{"min": 60 * 24 * k} for k in range(20)]  # 09:00 every day
    habitual = last([*mornings, {"min": 60 * 24 * 20}])
    night = last([*mornings, {"min": 60 * 24 * 20 - 6 * 60}])  # 03:00
    assert habitual["hour_rarity"] < 0 < night["hour_rarity"]


def test_optional_columns_novelty_and_neutral_when_absent() -> None:
    rows = [{"channel": "pos", "merchant_category": "5411"}] * 3
    rows.append({"channel": "online", "merchant_category": "7995", "currency": "USD"})
    out = last(rows)
    assert out["channel_new"] == out["merchant_category_new"] == out["currency_new"] == 1
    bare = last([{}] * 3 + [{"currency": "USD"}])
    assert bare["channel_new"] == bare["merchant_category_new"] == bare["country_new"] == 0
    gaps = card([{}, {"channel": "pos"}]).astype({"channel": object})
    gaps.loc[0, "channel"] = None  # first value missing: "pos" is not new against nothing
    assert batch_features(gaps)["channel_new"].tolist() == [0, 0]


def test_late_event_is_placed_by_event_time() -> None:
    state, _ = card_step(None, card([{"min": 0}, {"min": 100, "amount": 40.0}]))
    late = card([{"min": 50, "amount": 20.0}]).assign(transaction_id="late")
    state, out = card_step(state, late)
    assert math.expm1(out["gap_log_s"].iloc[0]) == pytest.approx(50 * 60)
    assert state["t"] == sorted(state["t"]) and state["n"] == 3


def test_long_gap_keeps_baseline_and_resets_velocity() -> None:
    state, _ = card_step(None, card([{"min": k, "amount": 30.0} for k in range(5)]))
    later = card([{"min": 60 * 24 * 400, "amount": 30.0}])
    state, out = card_step(state, later)
    assert out["count_24h"].iloc[0] == 1 and out["amount_ratio_log"].iloc[0] == 0
    assert math.expm1(out["gap_log_s"].iloc[0]) == pytest.approx(400 * 86400 - 4 * 60)


def test_state_is_compact_json_and_bounded() -> None:
    rows = [{"min": k, "merchant": f"m{k}", "amount": 1.0 + k} for k in range(500)]
    state, _ = card_step(None, card(rows))
    raw = encode_state(state)
    assert decode_state(raw) == state
    assert len(state["t"]) == WINDOW and len(raw) < 4096
    assert decode_state(b'{"v": 99}') == new_state()


def test_empty_chunk_keeps_the_state() -> None:
    state, _ = card_step(None, card([{}]))
    again, out = card_step(state, card([{}]).iloc[:0])
    assert again == state and out.empty and list(out.columns)[3:] == list(FEATURE_COLUMNS)


def test_batch_features_keeps_input_order_and_separates_cards() -> None:
    a = card([{"min": k, "amount": 10.0} for k in range(3)], user="a")
    b = card([{"min": k, "amount": 500.0} for k in range(3)], user="b")
    mixed = pd.concat([a, b]).sample(frac=1, random_state=1)
    out = batch_features(mixed)
    assert out.index.equals(mixed.index)
    assert (out["transaction_id"] == mixed["transaction_id"]).all()
    assert (out["amount_ratio_log"] == 0).all()  # each card against itself only


def random_card(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minutes = np.cumsum(rng.exponential(90, n)).round(2)
    rows = [
        {
            "min": float(m),
            "amount": float(np.round(rng.lognormal(3, 1), 2)),
            "merchant": f"m{rng.integers(0, 60)}",
            "lat": float(rng.uniform(40, 50)),
            "lon": float(rng.uniform(-5, 10)),
            "channel": str(rng.choice(["pos", "online"])),
        }
        for m in minutes
    ]
    return card(rows)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_chunked_calls_equal_one_call(seed: int, data: st.DataObject) -> None:
    history = random_card(seed, 90)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(history) - 1), max_size=12)))
    whole = batch_features(history)
    state, parts = None, []
    for chunk in np.split(np.arange(len(history)), cuts):
        state, out = card_step(state, history.iloc[chunk])
        state = decode_state(encode_state(state))  # as Spark stores it
        parts.append(out)
    chunked = pd.concat(parts)
    assert chunked["transaction_id"].tolist() == whole["transaction_id"].tolist()
    np.testing.assert_array_equal(
        chunked[list(FEATURE_COLUMNS)].to_numpy(), whole[list(FEATURE_COLUMNS)].to_numpy()
    )


def test_matrix_variant_gives_the_same_numbers() -> None:
    rows = random_card(3, 20)
    state, frame = card_step(None, rows)
    again, matrix = card_step_matrix(None, rows)
    assert again == state
    np.testing.assert_array_equal(matrix, frame[list(FEATURE_COLUMNS)].to_numpy())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_many_cards_in_micro_batches_equal_one_pass(seed: int, data: st.DataObject) -> None:
    cards = [random_card(seed + k, 30).assign(user_id=f"u{k}") for k in range(4)]
    stream = pd.concat(cards).sort_values("timestamp", kind="stable", ignore_index=True)
    stream["transaction_id"] = [f"t{k}" for k in range(len(stream))]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=8)))
    stored: dict[str, bytes] = {}
    parts = []
    for batch in np.split(np.arange(len(stream)), cuts):  # micro-batches in arrival order
        rows = stream.iloc[batch]
        states = {u: decode_state(b) for u, b in stored.items()}
        updated, matrix = cards_step(states, rows)
        stored |= {u: encode_state(state) for u, state in updated.items()}
        parts.append(matrix)
    expected = batch_features(stream)[list(FEATURE_COLUMNS)].to_numpy()
    np.testing.assert_array_equal(np.concatenate(parts), expected)
    single, _ = card_step(None, stream[stream["user_id"] == "u2"])
    assert decode_state(stored["u2"]) == single


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(-(2**45), 2**45)), max_size=200),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_rows_are_ordered_by_card_then_time_stably_as_a_lexsort_would(
    rows: list[tuple[int, int]], narrow: bool, many_cards: bool
) -> None:
    # narrow times and few cards take the one-key sort, the others numpy's lexsort
    card = np.array([c for c, _ in rows], dtype=np.int64) * (2**22 if many_cards else 1)
    t = np.array([x for _, x in rows], dtype=np.int64)
    if narrow:
        t = t % 10_000  # many ties
    assert np.array_equal(_card_time_order(card, t), np.lexsort((t, card)))
