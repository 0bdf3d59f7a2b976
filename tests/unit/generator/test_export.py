"""Export lines: every entry comes out, decoded, with its id and shard — even a foreign one."""

from __future__ import annotations

import orjson
import pytest

from rtad.common.encoding import deadletter_fields, encode
from rtad.common.errors import RtadError
from rtad.common.feature_entry import FeatureSets, encode_feature_entry, feature_set_id
from rtad.generator.export import check_kind, export_line


def test_rtad_entry_is_decoded_with_id_and_shard() -> None:
    raw = export_line("scores", 2, b"5-1", encode({"score": 0.9, "shard": 7}))
    assert list(orjson.loads(raw).items()) == [("entry_id", "5-1"), ("shard", 2), ("score", 0.9)]
    assert orjson.loads(export_line("tx", 1, b"5-2", encode([1, 2]))) == {
        "entry_id": "5-2",
        "shard": 1,
        "data": [1, 2],
    }


def test_deadletter_entry_is_text_fields() -> None:
    fields = deadletter_fields("bad amount", "replay", b'{"amount": -1}', "tx.jsonl:3")
    line = orjson.loads(export_line("deadletter", 0, b"9-0", fields))
    assert line == {
        "entry_id": "9-0",
        "shard": 0,
        "reason": "bad amount",
        "stage": "replay",
        "payload": '{"amount": -1}',
        "source": "tx.jsonl:3",
    }


def test_foreign_entry_is_exported_with_the_reason() -> None:
    line = orjson.loads(export_line("alerts", 3, b"1-0", {b"v": b"2", b"d": b"{}"}))
    assert "version" in line["error"] and line["fields"] == {"v": "2", "d": "{}"}


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(RtadError, match="choose one of"):
        check_kind("everything")


def test_feature_entry_is_its_head_and_features_by_name() -> None:
    names = ("a", "b")
    fields = encode_feature_entry({"transaction_id": "t"}, [0.5, float("inf")], names)
    sets = FeatureSets(known={feature_set_id(names): names})
    line = orjson.loads(export_line("features", 1, b"3-0", fields, sets))
    assert line == {
        "entry_id": "3-0",
        "shard": 1,
        "transaction_id": "t",
        "features": {"a": 0.5, "b": None},  # JSON has no infinity
    }
    unknown = orjson.loads(export_line("features", 1, b"3-1", fields, FeatureSets()))
    assert unknown["error"].startswith("unknown feature set")
    assert unknown["fields"]["x_base64"] and "x" not in unknown["fields"]
