"""The executor's state cache on a real file system."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from rtad.streaming.state_cache import STALE_S, SlotCache, new_tag, slot_tag_key


def test_a_slot_is_read_back_only_under_the_tag_it_was_written_with(tmp_path: Path) -> None:
    cache = SlotCache.for_query("q1", tmp_path)
    assert cache.get(3, 0, "1:aa") is None  # nothing written yet
    cache.put(3, 0, "1:aa", b"cards\nwith a newline")
    assert cache.get(3, 0, "1:aa") == b"cards\nwith a newline"
    assert cache.get(3, 0, "2:bb") is None  # the store holds another write's tag
    assert cache.get(3, 1, "1:aa") is None and cache.get(4, 0, "1:aa") is None
    cache.put(3, 0, "2:bb", b"newer")
    assert cache.get(3, 0, "1:aa") is None and cache.get(3, 0, "2:bb") == b"newer"
    assert sorted(p.name for p in (tmp_path / "rtad-state-cache" / "q1").iterdir()) == ["3-0"]
    # another query has its own files
    assert SlotCache.for_query("q2", tmp_path).get(3, 0, "2:bb") is None


def test_a_cache_that_cannot_write_turns_itself_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = SlotCache(blocker / "cache")
    with caplog.at_level(logging.WARNING):
        cache.put(0, 0, "1:aa", b"x")
    assert not cache.enabled
    assert "state cache off" in caplog.text
    assert cache.get(0, 0, "1:aa") is None


def test_tags_differ_for_every_write_and_sit_beside_the_slots() -> None:
    assert len({new_tag(7) for _ in range(100)}) == 100
    assert new_tag(7).startswith("7:")
    assert [slot_tag_key(s) for s in range(3)] == [-1, -2, -3]  # slots are 0 and up


def test_opening_a_query_cache_removes_other_queries_folders_left_idle(tmp_path: Path) -> None:
    old, recent = SlotCache.for_query("old", tmp_path), SlotCache.for_query("recent", tmp_path)
    old.put(0, 0, "1:aa", b"x")
    recent.put(0, 0, "1:aa", b"y")
    long_ago = time.time() - STALE_S - 60
    os.utime(old.root, (long_ago, long_ago))
    current = SlotCache.for_query("current", tmp_path)
    assert not old.root.exists()  # nothing wrote it for a day: a stopped query's
    assert recent.get(0, 0, "1:aa") == b"y"  # another live query keeps its files
    current.put(0, 0, "2:bb", b"z")
    os.utime(current.root, (long_ago, long_ago))
    assert SlotCache.for_query("current", tmp_path).get(0, 0, "2:bb") == b"z"  # its own stays
