"""The whole-batch checks behind the one-call decodes of the Spark source and the scorer."""

from __future__ import annotations

from rtad.common.encoding import fixed_fields, one_object_per_payload, v1_payloads


def check(payloads: list[bytes]) -> bool:
    return one_object_per_payload(b"\n".join(payloads), payloads)


def test_one_object_per_payload_refuses_what_would_shift_rows() -> None:
    assert check([b'{"a":1}', b'{"b":\n2}'])  # a newline inside an object is whitespace
    assert not check([b'{"a":1}{"b":2}', b""])  # two objects beside an empty payload
    assert not check([b'{"a":1}', b"[1]"])
    assert not check([b' {"a":1}', b'{"b":2}'])


def test_v1_payloads_only_when_every_entry_is_exactly_v_1_d_payload() -> None:
    good = [[b"v", b"1", b"d", b"{}"], [b"v", b"1", b"d", b'{"a":1}']]
    assert v1_payloads(good) == [b"{}", b'{"a":1}']
    assert v1_payloads([]) == []
    for odd in (
        {b"v": b"1", b"d": b"{}"},  # dict fields (a client that parses replies)
        None,  # a deleted entry
        [b"v", b"2", b"d", b"{}"],  # another encoding version
        [b"d", b"{}"],  # no version field
        [b"v", b"1", b"x", b"{}"],  # other field names
        [b"v", b"1", b"d", b"{}", b"x", b"y"],  # extra fields
    ):
        assert v1_payloads([*good, odd]) is None, odd


def test_fixed_fields_gives_each_value_position_or_none() -> None:
    layout = (b"v", b"2", b"d", None, b"x", None)
    good = [[b"v", b"2", b"d", b"h1", b"x", b"x1"], [b"v", b"2", b"d", b"h2", b"x", b"x2"]]
    assert fixed_fields(good, layout) == [[b"h1", b"h2"], [b"x1", b"x2"]]
    assert fixed_fields([], layout) == [[], []]
    for odd in (
        [b"v", b"2", b"d", b"h", b"y", b"x"],  # another field name
        [b"v", b"1", b"d", b"h", b"x", b"x"],  # another version
        [b"v", b"2", b"d", b"h"],  # fewer fields
        (b"v", b"2", b"d", b"h", b"x", b"x"),  # a tuple, not a raw reply
    ):
        assert fixed_fields([*good, odd], layout) is None, odd
