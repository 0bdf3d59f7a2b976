"""Feature entries of encoding 2: the reference encoder, the batch encoder of the Spark job and
the decoders agree on every head and every double (NaN and ±inf included)."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtad.common.encoding import UndecodableEntry
from rtad.common.feature_entry import (
    X_DTYPE,
    FeatureSets,
    column_index,
    decode_feature_entry,
    encode_feature_entry,
    entry_parts,
    feature_matrix,
    feature_set_id,
    finish_heads,
    pack_feature_xadds,
    packed_features,
)
from rtad.common.resp import pack_command

names_st = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
    min_size=1,
    max_size=8,
    unique=True,
).map(tuple)
texts = st.text(max_size=20)
heads_st = st.fixed_dictionaries(
    {
        "transaction_id": texts,
        "user_id": texts,
        "amount": st.floats(allow_nan=False, allow_infinity=False),
        "ingest_ms": st.integers(0, 2**53),
    },
    optional={"country": texts, "is_fraud": st.integers(0, 1)},
)


@st.composite
def batches(draw: st.DrawFn) -> tuple[tuple[str, ...], list[dict], np.ndarray]:
    names = draw(names_st)
    rows = draw(st.integers(1, 6))
    heads = [draw(heads_st) for _ in range(rows)]
    values = st.floats(allow_nan=True, allow_infinity=True, width=64)
    flat = draw(st.lists(values, min_size=rows * len(names), max_size=rows * len(names)))
    return names, heads, np.array(flat, dtype=np.float64).reshape(rows, len(names))


def flat_fields(fields: dict[bytes, bytes]) -> list[bytes]:
    return [item for pair in fields.items() for item in pair]


@settings(max_examples=150, deadline=None)
@given(batches(), st.integers(0, 2**41))
def test_the_batch_encoder_writes_the_reference_bytes_and_they_decode_back(
    batch: tuple[tuple[str, ...], list[dict], np.ndarray], feature_ms: int
) -> None:
    names, heads, matrix = batch
    set_id = feature_set_id(names)
    reference = [
        encode_feature_entry({**head, "feature_ms": feature_ms}, row, names)
        for head, row in zip(heads, matrix, strict=True)
    ]
    # the Spark job's path: packed heads up to ingest_ms, then Arrow kernels
    packed_heads = finish_heads(pa.array([orjson.dumps(h) for h in heads]), feature_ms, set_id)
    xadds = pack_feature_xadds("rtad:features:{0}", packed_heads, packed_features(matrix))
    expected = b"".join(
        pack_command(b"XADD", b"rtad:features:{0}", b"*", *flat_fields(f)) for f in reference
    )
    assert bytes(xadds) == expected
    # one by one, and a whole batch at once
    sets = FeatureSets(known={set_id: names})
    for head, row, fields in zip(heads, matrix, reference, strict=True):
        decoded = decode_feature_entry(fields, sets)
        assert decoded.pop("features").keys() == set(names)
        assert decoded == {**head, "feature_ms": feature_ms}
        got = decode_feature_entry(fields, sets)["features"]
        assert np.array(list(got.values()), X_DTYPE).tobytes() == row.tobytes()
    parts = entry_parts([flat_fields(f) for f in reference])
    assert parts is not None
    got_matrix = feature_matrix(parts[1], len(names))
    assert got_matrix is not None and got_matrix.tobytes() == matrix.tobytes()


def test_packed_xadds_are_what_redis_py_would_send() -> None:
    heads = ['{"a":1}', "é€", "", "x\r\ny"]
    xs = [b"\x00" * 8, b"", b"\r\n", bytes(range(256))]
    packed = bytes(pack_feature_xadds("rtad:features:{1}", pa.array(heads), pa.array(xs)))
    expected = b"".join(
        pack_command(b"XADD", b"rtad:features:{1}", b"*", b"v", b"2", b"d", p.encode(), b"x", x)
        for p, x in zip(heads, xs, strict=True)
    )
    assert packed == expected
    empty = pa.array([], pa.binary())
    assert bytes(pack_feature_xadds("k", empty, empty)) == b""


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"v": b"1", b"d": b"{}"}, r"unsupported encoding version b'1' \(expected b'2'\)"),
        ({b"v": b"2", b"d": b"{oops"}, "head is not JSON"),
        ({b"v": b"2", b"d": b"[1]"}, "head is not a JSON object"),
        ({b"v": b"2", b"d": b"{}"}, "no feature_set"),
        ({b"v": b"2", b"d": b'{"feature_set":"000000000000"}'}, "unknown feature set"),
        ({b"v": b"2", b"d": b'{"feature_set":"%s"}' % feature_set_id(["a"]).encode()}, "no 'x'"),
    ],
)
def test_an_entry_that_cannot_be_read_says_why(fields: dict, reason: str) -> None:
    with pytest.raises(UndecodableEntry, match=reason):
        decode_feature_entry(fields, FeatureSets(known={feature_set_id(["a"]): ["a"]}))


def test_x_of_the_wrong_size_is_refused() -> None:
    fields = encode_feature_entry({"transaction_id": "t"}, [1.0, 2.0], ["a", "b"])
    fields[b"x"] = fields[b"x"][:-1]
    with pytest.raises(UndecodableEntry, match="15 bytes, not 2 doubles"):
        decode_feature_entry(fields, {feature_set_id(["a", "b"]): ["a", "b"]})
    assert feature_matrix([fields[b"x"]], 2) is None


def test_only_entries_of_the_written_layout_take_the_batch_path() -> None:
    good = [b"v", b"2", b"d", b"{}", b"x", b"01234567"]
    assert entry_parts([good, good]) == ([b"{}", b"{}"], [b"01234567", b"01234567"])
    assert entry_parts([good, [b"v", b"1", b"d", b"{}"]]) is None
    assert entry_parts([good, [b"d", b"{}", b"v", b"2", b"x", b"0"]]) is None
    assert entry_parts([good, {b"v": b"2"}]) is None


def test_column_index_reads_a_set_in_any_order() -> None:
    index, missing = column_index(feature_set_id(["a", "b", "c"]), ("a", "b", "c"), ("c", "a"))
    assert index.tolist() == [2, 0] and missing == ()
    assert column_index(feature_set_id(["a"]), ("a",), ("a", "z"))[1] == ("z",)


def test_a_set_is_learnt_once_and_checked_against_its_id() -> None:
    asked: list[str] = []
    stored = {feature_set_id(["a", "b"]): orjson.dumps(["a", "b"]), "bad": b'["a"]'}

    def load(set_id: str) -> bytes | None:
        asked.append(set_id)
        return stored.get(set_id)

    sets = FeatureSets(load)
    assert sets.get(feature_set_id(["a", "b"])) == ("a", "b")
    assert sets.get(feature_set_id(["a", "b"])) == ("a", "b")
    assert sets.get("bad") is None and sets.get("missing") is None
    assert asked == [feature_set_id(["a", "b"]), "bad", "missing"]
