"""Fixtures shared by every test. Markers (pyproject) say what a test needs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames

# Spark workers must run the interpreter that has rtad installed.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture
def redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalRedis]]:
    """Start real redis-server processes on free ports (never the machine's 6379)."""
    started: list[LocalRedis] = []

    def make(**kwargs: object) -> LocalRedis:
        server = LocalRedis(tmp_path_factory.mktemp("redis"), **kwargs)  # type: ignore[arg-type]
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def redis_server(redis_factory: Callable[..., LocalRedis]) -> LocalRedis:
    """One fresh redis-server for this test."""
    return redis_factory()


@pytest.fixture
def redis_client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def names() -> StreamNames:
    return StreamNames(prefix="rtad", shards=4)


@pytest.fixture
def rtad_env(redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing every setting at the test's redis-server."""
    env = {"RTAD_REDIS_URL": redis_server.url, "RTAD_SHARDS": "4"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
