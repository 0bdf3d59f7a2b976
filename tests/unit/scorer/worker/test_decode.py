"""Raw feature entries → rows: one decode call for a clean batch, dead letters for bad entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rtad.common.feature_entry import FeatureSets, feature_set_id
from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.model_store import load_model
from rtad.scorer.scoring import decode_row, head_decoder
from rtad.scorer.worker.decode import decode_at_once, decode_entries
from tests.unit.scorer.support import packed_fields

SETS = FeatureSets(known={feature_set_id(FEATURE_COLUMNS): FEATURE_COLUMNS})


@pytest.fixture(scope="module")
def names(model_dir: Path) -> tuple[str, ...]:
    return tuple(load_model(model_dir).feature_names)


@pytest.fixture
def entries(scorer_rows: list[dict]) -> list[dict[bytes, bytes]]:
    return [packed_fields(r) for r in scorer_rows[:30]]


@pytest.fixture
def payloads(entries: list[dict[bytes, bytes]]) -> list[bytes]:
    """The entries' heads."""
    return [e[b"d"] for e in entries]


def _groups(
    payloads: list[bytes], entries: list[dict[bytes, bytes]], shards: int = 3
) -> list[tuple[int, list[Any]]]:
    """Raw replies of the entries with these heads, dealt to ``shards`` shards."""
    raw = [
        (f"1-{i}".encode(), [b"v", b"2", b"d", p, b"x", e[b"x"]])
        for i, (p, e) in enumerate(zip(payloads, entries, strict=True))
    ]
    return [(s, raw[s::shards]) for s in range(shards)]


def test_a_clean_batch_of_several_shards_is_decoded_in_one_call(
    names: tuple[str, ...], payloads: list[bytes], entries: list, scorer_rows: list[dict]
) -> None:
    groups = _groups(payloads, entries)
    at_once = decode_at_once(groups, names, SETS.get)
    assert at_once is not None
    decoded = decode_entries(groups, names, SETS)
    in_order = [entry for _shard, entries in groups for entry in entries]
    assert decoded.ids == at_once.ids == [entry_id for entry_id, _ in in_order]
    assert decoded.counts == [10, 10, 10] and decoded.dead == {}
    expected = [decode_row(fields[3], head_decoder) for _, fields in in_order]
    assert decoded.rows == at_once.rows == expected
    rows = {r["transaction_id"]: r for r in scorer_rows}
    assert decoded.X.tolist() == [
        [rows[h.transaction_id]["features"][n] for n in names] for h in decoded.rows
    ]


def test_pretty_printed_heads_take_the_one_call_path_too(
    names: tuple[str, ...], payloads: list[bytes], entries: list, scorer_rows: list[dict]
) -> None:
    pretty = [orjson.dumps(orjson.loads(p), option=orjson.OPT_INDENT_2) for p in payloads[:4]]
    decoded = decode_at_once(_groups(pretty, entries[:4], shards=2), names, SETS.get)
    assert decoded is not None and len(decoded.rows) == 4
    assert [r.transaction_id for r in decoded.rows] == [
        scorer_rows[i]["transaction_id"] for i in (0, 2, 1, 3)
    ]


def _half(p: bytes) -> bytes:
    return p[: len(p) // 2]


@pytest.mark.parametrize(
    ("bad", "codes"),
    [
        ({4: b"not json"}, {4: "invalid_row"}),
        ({4: b'{"transaction_id": "x"}'}, {4: "invalid_row"}),
        # two objects in one entry beside an empty one: the count of objects is right, but
        # each would land on the wrong entry ID
        ({4: b"P7P8", 7: b""}, {4: "invalid_row", 7: "invalid_row"}),
        # one object cut across two entries
        ({4: b"H9", 9: b"T9"}, {4: "invalid_row", 9: "invalid_row"}),
    ],
)
def test_bad_entries_are_dead_lettered_and_the_others_decoded(
    names: tuple[str, ...],
    payloads: list[bytes],
    entries: list,
    bad: dict[int, bytes],
    codes: dict[int, str],
) -> None:
    payloads = list(payloads)
    for i, text in bad.items():
        text = text.replace(b"P7", payloads[7]).replace(b"P8", payloads[8])
        text = text.replace(b"H9", _half(payloads[9])).replace(
            b"T9", payloads[9][len(_half(payloads[9])) :]
        )
        payloads[i] = text
    groups = _groups(payloads, entries, shards=1)
    assert decode_at_once(groups, names, SETS.get) is None
    decoded = decode_entries(groups, names, SETS)
    dead = {
        int(eid.decode().split("-")[1]): (code, reason) for eid, code, reason, _ in decoded.dead[0]
    }
    assert {i: code for i, (code, _reason) in dead.items()} == codes
    assert all(reason and "\n" not in reason for _code, reason in dead.values())
    kept = [i for i in range(len(payloads)) if i not in codes]
    assert decoded.ids == [f"1-{i}".encode() for i in kept]
    assert [r.transaction_id for r in decoded.rows] == [
        orjson.loads(payloads[i])["transaction_id"] for i in kept
    ]


def test_other_encodings_and_padded_heads_take_the_careful_path(
    names: tuple[str, ...], payloads: list[bytes], entries: list, scorer_rows: list[dict]
) -> None:
    x = [e[b"x"] for e in entries]
    raw = [
        (b"1-0", [b"v", b"2", b"d", payloads[0], b"x", x[0]]),
        (b"1-1", [b"v", b"3", b"d", payloads[1], b"x", x[1]]),  # unknown encoding version
        (b"1-2", {b"v": b"2", b"d": payloads[2], b"x": x[2]}),  # a parsed reply (a dict)
        (b"1-3", [b"v", b"2", b"d", b"  " + payloads[3] + b"\n", b"x", x[3]]),  # padded: valid
        (b"1-4", [b"d", payloads[4], b"x", x[4]]),  # no version field
        (b"1-5", [b"v", b"1", b"d", orjson.dumps(scorer_rows[5])]),  # encoding 1: retired
    ]
    decoded = decode_entries([(2, raw)], names, SETS)
    assert decoded.ids == [b"1-0", b"1-2", b"1-3"]
    dead = {eid: (code, reason) for eid, code, reason, _p in decoded.dead[2]}
    assert {eid: code for eid, (code, _r) in dead.items()} == {
        b"1-1": "undecodable",
        b"1-4": "undecodable",
        b"1-5": "undecodable",
    }
    assert dead[b"1-5"][1] == "unsupported encoding version b'1' (expected b'2')"
