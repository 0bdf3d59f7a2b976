"""Fixtures of the streaming integration tests: ONE local Spark session for the whole run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rtad.common.local_redis import LocalRedis
from rtad.streaming.settings import StreamSettings


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A real local[2] SparkSession configured exactly as the job configures its own."""
    from rtad.streaming.session import build_session

    session = build_session(StreamSettings(master="local[2]", shards=4))
    yield session
    session.stop()


@pytest.fixture
def stream_settings(redis_server: LocalRedis, tmp_path: Any) -> StreamSettings:
    """Job settings pointing at this test's redis-server and a fresh checkpoint."""
    return StreamSettings(
        redis_url=redis_server.url,
        shards=4,
        master="local[2]",
        checkpoint_dir=tmp_path / "checkpoint",
        available_now=True,
        max_records_per_batch=1000,
        state_cache_dir=tmp_path / "state-cache",
    )
