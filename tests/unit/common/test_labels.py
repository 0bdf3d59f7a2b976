"""The labels contract: accepted, refused with one line, encoded, folded to the latest."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from rtad.common.encoding import encode_raw
from rtad.common.labels import (
    InvalidLabel,
    Label,
    decode_label_entry,
    decode_label_json,
    encode_label,
    label_from_mapping,
    latest_verdicts,
    with_arrival,
)
from rtad.common.streams import StreamNames

GOOD = {"transaction_id": "t-1", "user_id": "u-1", "verdict": "fraud", "source": "analyst"}


def test_required_fields_are_enough_and_given_at_is_optional() -> None:
    label = decode_label_json(orjson.dumps(GOOD))
    assert label.is_fraud and label.given_at is None and label.source == "analyst"
    stamped = decode_label_json(orjson.dumps({**GOOD, "given_at": "2026-01-06T10:00:00+01:00"}))
    assert stamped.given_at == datetime(2026, 1, 6, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"source": "oracle"}, "source"),
        ({"transaction_id": ""}, "transaction_id"),
        ({"user_id": "  "}, "user_id"),
        ({"given_at": "2026-01-06T10:00:00"}, "timezone"),
        ({"given_at": "soon"}, "given_at"),
    ],
)
def test_refusals_are_one_line_saying_what_is_wrong(change: dict, needle: str) -> None:
    with pytest.raises(InvalidLabel) as info:
        decode_label_json(orjson.dumps({**GOOD, **change}))
    message = str(info.value)
    assert needle in message.lower() and "\n" not in message


def test_missing_field_and_malformed_json() -> None:
    with pytest.raises(InvalidLabel, match="verdict"):
        decode_label_json(b'{"transaction_id":"t","user_id":"u","source":"analyst"}')
    with pytest.raises(InvalidLabel, match="malformed JSON"):
        decode_label_json(b'{"transaction_id":')


def test_csv_rows_blank_cells_are_absent() -> None:
    label = label_from_mapping({**GOOD, "given_at": "", "extra": "x"})
    assert label.given_at is None
    with pytest.raises(InvalidLabel, match="verdict"):
        label_from_mapping({**GOOD, "verdict": ""})


def test_arrival_time_fills_given_at_only_when_absent() -> None:
    arrived = datetime(2026, 2, 1, tzinfo=UTC)
    assert with_arrival(decode_label_json(orjson.dumps(GOOD)), arrived).given_at == arrived
    given = Label(**GOOD, given_at=datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert with_arrival(given, arrived).given_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_stream_entry_round_trip_and_the_entry_time_as_default() -> None:
    label = decode_label_json(orjson.dumps(GOOD))
    fields = encode_raw(encode_label(label))
    decoded = decode_label_entry(b"1767225600000-0", fields)
    assert decoded.transaction_id == "t-1"
    assert decoded.given_at == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidLabel, match="version"):
        decode_label_entry(b"1-0", {b"v": b"9", b"d": b"{}"})


def test_the_latest_verdict_counts_once() -> None:
    def at(day: int, verdict: str) -> Label:
        return Label(
            transaction_id="t-1",
            user_id="u-1",
            verdict=verdict,  # type: ignore[arg-type]
            source="analyst",
            given_at=datetime(2026, 1, day, tzinfo=UTC),
        )

    folded = latest_verdicts([at(3, "fraud"), at(1, "genuine"), at(2, "genuine")])
    assert list(folded) == ["t-1"] and folded["t-1"].verdict == "fraud"
    assert latest_verdicts([at(1, "genuine"), at(1, "fraud")])["t-1"].verdict == "fraud"


def test_labels_stream_is_sharded_by_card_like_the_rest() -> None:
    names = StreamNames(prefix="rtad", shards=4)
    assert names.key("labels", 2) == "rtad:labels:{2}"
    assert names.for_user("labels", "u-1") == names.for_user("tx", "u-1").replace("tx", "labels")
