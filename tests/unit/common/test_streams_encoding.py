"""Stream names, sharding and entry encoding."""

from __future__ import annotations

import zlib

import numpy as np
import orjson
import pytest

from rtad.common.encoding import (
    UndecodableEntry,
    deadletter_fields,
    decode,
    encode,
)
from rtad.common.settings import RtadSettings, mask_url
from rtad.common.streams import KINDS, StreamNames, shard_of


def test_shard_is_crc32_and_stable() -> None:
    assert shard_of("card-1", 4) == zlib.crc32(b"card-1") % 4
    shards = {shard_of(f"user-{i}", 4) for i in range(1000)}
    assert shards == {0, 1, 2, 3}


def test_shards_are_balanced() -> None:
    counts = np.bincount([shard_of(f"user-{i}", 8) for i in range(80_000)], minlength=8)
    assert counts.min() > 9_000 and counts.max() < 11_000


def test_keys_carry_the_shard_in_a_hash_tag() -> None:
    names = StreamNames(prefix="bank", shards=8)
    for kind in KINDS:
        key = names.key(kind, 5)
        assert key == f"bank:{kind}:{{5}}"
        assert names.shard_from_key(key) == 5
    assert len(names.all("scores")) == 8
    with pytest.raises(ValueError, match="out of range"):
        names.key("tx", 8)


def test_bookkeeping_keys_are_the_contracts_in_the_shards_slot() -> None:
    names = StreamNames(prefix="bank", shards=8)
    assert names.stream_stats_key(5) == "bank:meta:stream-stats:{5}"
    assert names.stream_deadlettered_key(5) == "bank:meta:stream-deadlettered:{5}"
    assert names.feature_sink_marker_key(5) == "bank:meta:feature-sink:{5}"
    assert names.scorer_totals_key(5) == "bank:meta:scorer:{5}"
    assert names.feature_sets_key() == "bank:meta:feature-sets"


def test_encoding_round_trip_and_version() -> None:
    obj = {"score": np.float64(0.5), "reasons": ["amount 3.0x"], "n": np.int64(3)}
    fields = encode(obj)
    assert fields[b"v"] == b"1"
    assert decode(fields) == {"score": 0.5, "reasons": ["amount 3.0x"], "n": 3}
    # redis-py may hand back str keys when decode_responses=True
    assert decode({"v": "1", "d": fields[b"d"].decode()})["n"] == 3


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({b"v": b"2", b"d": b"{}"}, "version"),
        ({b"d": b"{}"}, "version"),
        ({b"v": b"1"}, "no 'd'"),
        ({b"v": b"1", b"d": b"{oops"}, "not JSON"),
    ],
)
def test_undecodable_entries_say_why(fields: dict, needle: str) -> None:
    with pytest.raises(UndecodableEntry, match=needle):
        decode(fields)


def test_deadletter_keeps_original_payload() -> None:
    fields = deadletter_fields("bad amount", "replay", b"\xffraw line", "file.jsonl:3")
    assert fields[b"payload"] == b"\xffraw line"
    assert fields[b"reason"] == b"bad amount"


def test_settings_from_env_and_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTAD_REDIS_URL", "redis://:s3cret@redis:6379/0")
    monkeypatch.setenv("RTAD_SHARDS", "8")
    settings = RtadSettings()
    assert settings.shards == 8
    assert "s3cret" not in settings.redis_url_masked
    assert "s3cret" not in repr(settings)
    assert settings.streams.key("tx", 7) == "rtad:tx:{7}"
    assert mask_url("redis://localhost:6379") == "redis://localhost:6379"


def test_settings_refuse_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTAD_REDIS_URL", "http://x")
    with pytest.raises(ValueError, match="redis://"):
        RtadSettings()
    monkeypatch.setenv("RTAD_REDIS_URL", "redis://x")
    monkeypatch.setenv("RTAD_SHARDS", "0")
    with pytest.raises(ValueError):
        RtadSettings()


def test_original_payload_keeps_d_untouched_or_the_whole_entry() -> None:
    from rtad.common.encoding import original_payload

    assert original_payload({b"v": b"2", b"d": b"\xff{oops"}) == b"\xff{oops"
    assert orjson.loads(original_payload({b"other": b"x\xff", b"n": b"1"})) == {
        "other": "x\ufffd",
        "n": "1",
    }
