"""The one-object-per-payload check behind the one-call decodes of the source and the scorer."""

from __future__ import annotations

from rtad.common.encoding import one_object_per_payload


def check(payloads: list[bytes]) -> bool:
    return one_object_per_payload(b"\n".join(payloads), payloads)


def test_one_object_per_payload_refuses_what_would_shift_rows() -> None:
    assert check([b'{"a":1}', b'{"b":\n2}'])  # a newline inside an object is whitespace
    assert not check([b'{"a":1}{"b":2}', b""])  # two objects beside an empty payload
    assert not check([b'{"a":1}', b"[1]"])
    assert not check([b' {"a":1}', b'{"b":2}'])
