"""Feature entries (JSON head + packed doubles) in a batch: one-call path, careful path."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from rtad.common.encoding import original_payload
from rtad.common.feature_entry import FeatureSets, feature_set_id
from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.model_store import load_model
from rtad.scorer.worker.batch import BatchResult, build_batch
from rtad.scorer.worker.decode import decode_at_once, decode_entries
from tests.unit.scorer.support import SCORE_FIELDS, packed_fields

#: Another order of the features, with one the model does not use: read by name all the same.
SHUFFLED = (*reversed(FEATURE_COLUMNS), "extra")
UNKNOWN_SET = "000000000000"


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def sets() -> FeatureSets:
    return FeatureSets(known={feature_set_id(n): n for n in (FEATURE_COLUMNS, SHUFFLED)})


def _packed(i: int, row: dict, feature_names: tuple[str, ...] = FEATURE_COLUMNS) -> Any:
    """The raw reply of an entry of encoding 2 (a flat field list, as XREADGROUP gives it)."""
    row = {**row, "features": {**row["features"], "extra": 0.5}}
    fields = packed_fields(row, feature_names)
    return (f"1-{i}".encode(), [b"v", b"2", b"d", fields[b"d"], b"x", fields[b"x"]])


def _shards(entries: list, shards: int = 3) -> list[tuple[int, list]]:
    return [(s, entries[s::shards]) for s in range(shards)]


def _same_writes(a: BatchResult, b: BatchResult) -> None:
    assert a.shards.keys() == b.shards.keys()
    for shard, out in b.shards.items():
        other = a.shards[shard]
        assert (other.scores, other.alerts, other.ack) == (out.scores, out.alerts, out.ack)
        assert other.labelled == out.labelled and other.deadletters == out.deadletters
        assert (other.latency_counts == out.latency_counts).all()
    assert np.array_equal(a.X, b.X) and np.array_equal(a.scores, b.scores)


def test_a_clean_batch_is_decoded_at_once_and_scored_alike_in_any_feature_order(
    model: Any, sets: FeatureSets, scorer_rows: list[dict]
) -> None:
    rows = scorer_rows[:900]
    packed = _shards([_packed(i, r, SHUFFLED) for i, r in enumerate(rows)])
    plain = _shards([_packed(i, r) for i, r in enumerate(rows)])
    names = tuple(model.feature_names)
    at_once = decode_at_once(packed, names, sets.get)
    assert at_once is not None and at_once.counts == [300, 300, 300]
    in_order = [rows[i] for s in range(3) for i in range(s, 900, 3)]
    assert at_once.X.tolist() == [[r["features"][n] for n in names] for r in in_order]
    now = rows[0]["ingest_ms"] + 100
    result = build_batch(packed, model, now, sets)
    assert result.scored == 900 and any(out.alerts for out in result.shards.values())
    _same_writes(result, build_batch(plain, model, now, sets))  # score entries byte for byte


def test_a_batch_of_two_feature_sets_is_decoded_entry_by_entry(
    model: Any, sets: FeatureSets, scorer_rows: list[dict]
) -> None:
    rows = scorer_rows[:300]
    mixed = [_packed(i, r) if i % 2 else _packed(i, r, SHUFFLED) for i, r in enumerate(rows)]
    names = tuple(model.feature_names)
    assert decode_at_once(_shards(mixed), names, sets.get) is None
    now = rows[0]["ingest_ms"]
    result = build_batch(_shards(mixed), model, now, sets)
    assert result.scored == 300
    plain = _shards([_packed(i, r) for i, r in enumerate(rows)])
    _same_writes(result, build_batch(plain, model, now, sets))


def _reshaped_head(fields: list) -> list:
    """The same entry, its head's fields in reverse order and with fields no reader knows."""
    head = orjson.loads(fields[3])
    head = dict(reversed(head.items())) | {"device": {"id": "d-1", "tags": [1, 2]}, "z": None}
    return [*fields[:3], orjson.dumps(head), *fields[4:]]


def test_score_entries_hold_their_fields_whatever_else_the_head_holds(
    model: Any, sets: FeatureSets, scorer_rows: list[dict]
) -> None:
    """The head is the whole record (the Spark job adds to it): a score entry takes its fields
    by name, keeps event_time's zone as written, and passes nothing else on."""
    rows = scorer_rows[:200]
    entries = [_packed(i, r) for i, r in enumerate(rows)]
    reshaped = [(entry_id, _reshaped_head(fields)) for entry_id, fields in entries]
    names = tuple(model.feature_names)
    assert decode_at_once(_shards(reshaped), names, sets.get) is not None  # the one-call path
    now = rows[0]["ingest_ms"] + 100
    result = build_batch(_shards(reshaped), model, now, sets)
    _same_writes(result, build_batch(_shards(entries), model, now, sets))
    scores = [orjson.loads(p) for out in result.shards.values() for p in out.scores]
    assert {tuple(s) for s in scores} == {tuple(SCORE_FIELDS)}  # labelled rows: all fields
    in_order = [rows[i] for s in range(3) for i in range(s, 200, 3)]
    assert [s["event_time"] for s in scores] == [r["event_time"] for r in in_order]
    assert all(s["event_time"].endswith("+01:00") for s in scores[:5])


def _unknown_set(fields: list) -> list:
    head = orjson.loads(fields[3]) | {"feature_set": UNKNOWN_SET}
    return [*fields[:3], orjson.dumps(head), *fields[4:]]


def _nan_feature(fields: list, name: str) -> list:
    x = np.frombuffer(fields[5], "<f8").copy()
    x[FEATURE_COLUMNS.index(name)] = math.nan
    return [*fields[:5], x.tobytes()]


def _all_but(name: str) -> tuple[str, ...]:
    return tuple(n for n in FEATURE_COLUMNS if n != name)


def _without_feature(row: dict, name: str) -> list:
    fields = packed_fields(row, _all_but(name))
    return [b"v", b"2", b"d", fields[b"d"], b"x", fields[b"x"]]


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("unknown set", "undecodable", f"unknown feature set '{UNKNOWN_SET}'"),
        ("x too short", "undecodable", "'x' holds 224 bytes, not 29 doubles"),
        ("no x", "undecodable", "no 'x' field"),
        ("head not JSON", "invalid_row", "feature row is not JSON"),
        ("head without user_id", "invalid_row", "missing required field `user_id`"),
        ("non-finite feature", "invalid_features", "feature 'F' is not a finite number"),
        ("feature not in the set", "invalid_row", "feature 'F' is not in the entry's feature set"),
    ],
)
def test_a_bad_packed_entry_is_dead_lettered_whole_and_the_others_scored(
    model: Any,
    scorer_rows: list[dict],
    case: str,
    code: str,
    reason: str,
) -> None:
    rows = scorer_rows[:30]
    entries = [_packed(i, r) for i, r in enumerate(rows)]
    fields, feature = entries[7][1], model.feature_names[3]
    head = orjson.loads(fields[3])
    bad = {
        "unknown set": lambda: _unknown_set(fields),
        "x too short": lambda: [*fields[:5], fields[5][:-8]],
        "no x": lambda: fields[:4],
        "head not JSON": lambda: [*fields[:3], b"{oops", *fields[4:]],
        "head without user_id": lambda: [
            *fields[:3],
            orjson.dumps({k: v for k, v in head.items() if k != "user_id"}),
            *fields[4:],
        ],
        "non-finite feature": lambda: _nan_feature(fields, feature),
        "feature not in the set": lambda: _without_feature(rows[7], feature),
    }[case]()
    known = FeatureSets(known={feature_set_id(n): n for n in (FEATURE_COLUMNS, _all_but(feature))})
    entries[7] = (b"1-7", bad)
    result = build_batch(_shards(entries), model, rows[0]["ingest_ms"], known)
    assert result.scored == 29
    assert [e for out in result.shards.values() for e in out.ack] == [
        e for s in range(3) for e, _f in entries[s::3] if e != b"1-7"
    ]
    ((dead_id, dead_code, dead_reason, payload),) = result.shards[1].deadletters
    assert (dead_id, dead_code) == (b"1-7", code)
    assert reason.replace("'F'", repr(feature)) in dead_reason and "\n" not in dead_reason
    whole = dict(zip(bad[::2], bad[1::2], strict=True))
    assert payload == original_payload(whole)
    if b"x" in whole:  # the dead letter keeps the whole entry, x included
        assert base64.b64decode(orjson.loads(payload)["x_base64"]) == whole[b"x"]


def test_a_set_the_model_cannot_use_dead_letters_every_row_with_the_reason(
    model: Any, scorer_rows: list[dict]
) -> None:
    feature = model.feature_names[0]
    names = _all_but(feature)
    entries = [
        (f"1-{i}".encode(), _without_feature(r, feature)) for i, r in enumerate(scorer_rows[:6])
    ]
    decoded = decode_entries(
        [(0, entries)],
        tuple(model.feature_names),
        FeatureSets(known={feature_set_id(names): names}),
    )
    assert decoded.rows == [] and decoded.X.shape == (0, len(model.feature_names))
    expected = f"feature {feature!r} is not in the entry's feature set {feature_set_id(names)}"
    assert [(e, c, r) for e, c, r, _p in decoded.dead[0]] == [
        (f"1-{i}".encode(), "invalid_row", expected) for i in range(6)
    ]


def test_feature_sets_are_asked_for_once_a_batch_and_kept_once_found(
    model: Any, scorer_rows: list[dict]
) -> None:
    """An unknown id costs one look-up a batch, not one an entry; a found set none after."""
    stored = {feature_set_id(FEATURE_COLUMNS): orjson.dumps(list(FEATURE_COLUMNS))}
    asked: list[str] = []

    def load(set_id: str) -> bytes | None:
        asked.append(set_id)
        return stored.get(set_id)

    sets = FeatureSets(load)
    names = tuple(model.feature_names)
    unknown = [
        (f"1-{i}".encode(), _unknown_set(_packed(i, r)[1])) for i, r in enumerate(scorer_rows[:8])
    ]
    decoded = decode_entries([(0, unknown)], names, sets)
    assert len(decoded.dead[0]) == 8 and asked == [UNKNOWN_SET]
    good = [_packed(i, r) for i, r in enumerate(scorer_rows[:8])]
    for _batch in range(2):
        assert len(decode_entries([(0, good)], names, sets).rows) == 8
    assert asked == [UNKNOWN_SET, feature_set_id(FEATURE_COLUMNS)]
