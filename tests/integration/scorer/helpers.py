"""Helpers of the scorer's integration tests: build and drive real workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rtad.common.local_redis import free_port
from rtad.scorer.api.app import create_app
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.faults import FaultPlan
from rtad.scorer.worker.loop import ScoringWorker


def settings_for(url: str, model_dir: Path, **overrides: Any) -> ScorerSettings:
    values: dict[str, Any] = {
        "redis_url": url,
        "model_path": model_dir,
        "batch_count": 200,
        "block_ms": 50,
        "claim_interval_s": 0.05,
        "maintenance_interval_s": 0.2,
    }
    return ScorerSettings(**(values | overrides))


def make_worker(
    url: str,
    model_dir: Path,
    faults: FaultPlan | None = None,
    challenger: Path | None = None,
    **overrides: Any,
) -> ScoringWorker:
    """A worker serving ``model_dir`` (and ``challenger`` in shadow, when given)."""
    settings = settings_for(url, model_dir, **overrides)
    holder = ModelHolder(model_dir, challenger_path=challenger)
    return ScoringWorker(redis.Redis.from_url(url), settings, holder, faults)


def step_until(worker: ScoringWorker, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Run worker steps until ``done()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "worker did not get there in time"
        worker.step()


@contextmanager
def app_client(
    url: str, model_dir: Path, challenger: Path | None = None, **overrides: Any
) -> Iterator[TestClient]:
    """A TestClient of the real app (``challenger`` in shadow, when given); its lifespan runs
    (and stops) the worker thread."""
    settings = settings_for(url, model_dir, **overrides)
    holder = ModelHolder(model_dir, challenger_path=challenger)
    with TestClient(create_app(settings, holder)) as client:
        yield client


def wait_until(done: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a real uvicorn server (in a thread) running ``app``."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
