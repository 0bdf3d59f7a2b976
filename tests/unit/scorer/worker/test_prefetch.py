"""The scorer's read-ahead: one read at a time, only when asked, errors handed over."""

from __future__ import annotations

import threading

import pytest

from rtad.scorer.worker.prefetch import Prefetcher


def test_reads_only_when_asked_and_one_at_a_time() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def read() -> list[int]:
        gate.wait(5)
        calls.append(len(calls))
        return [len(calls)]

    prefetcher = Prefetcher(read)
    assert calls == [] and not prefetcher.pending
    prefetcher.request()
    prefetcher.request()  # a read is already pending: no second one
    gate.set()
    groups, read_at = prefetcher.take()
    assert groups == [1] and read_at > 0 and not prefetcher.pending
    prefetcher.close()  # the thread runs every request queued before it, then stops
    assert calls == [0]  # one read for two requests, none read ahead unasked


def test_take_without_a_request_reads_right_away() -> None:
    prefetcher = Prefetcher(lambda: [7])
    try:
        assert prefetcher.take()[0] == [7]
        assert not prefetcher.pending
    finally:
        prefetcher.close()


def test_a_failed_read_raises_in_the_taking_thread_and_the_next_read_works() -> None:
    replies: list[object] = [ConnectionError("redis down"), [7]]

    def read() -> list[int]:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[return-value]

    prefetcher = Prefetcher(read)
    try:
        with pytest.raises(ConnectionError, match="redis down"):
            prefetcher.take()
        assert prefetcher.take()[0] == [7]
    finally:
        prefetcher.close()


def reader_threads() -> int:
    return sum(t.name == "rtad-scorer-read" and t.is_alive() for t in threading.enumerate())


def test_the_thread_lives_from_the_first_request_to_close() -> None:
    before = reader_threads()
    prefetcher = Prefetcher(lambda: [1])
    assert reader_threads() == before  # a worker that never reads (tests, the API) has none
    prefetcher.close()  # closing an unused prefetcher is fine
    prefetcher.request()
    assert reader_threads() == before + 1
    assert prefetcher.take()[0] == [1]
    prefetcher.close()
    assert reader_threads() == before
