"""The whole-batch checks behind the one-call decodes of the Spark source and the scorer."""

from __future__ import annotations

from rtad.common.encoding import one_object_per_payload, v1_payloads


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
