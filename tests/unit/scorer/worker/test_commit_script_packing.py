"""RESP packing of the scorer's commit (pure: no Redis)."""

from __future__ import annotations

import pytest

from rtad.common.resp import pack_command
from rtad.scorer.worker.commit_script import pack_many


@pytest.mark.parametrize(
    "tail", [[], [b""], [b"x"], [b"a" * 300, b"", b"b\r\n" * 40], [b"c" * 70_000] * 2]
)
def test_pack_many_is_the_resp_of_the_same_command(tail: list[bytes]) -> None:
    assert pack_many([b"CMD", b"key"], tail) == pack_command(b"CMD", b"key", *tail)
