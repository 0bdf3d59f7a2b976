"""The chart running as containers: images built once per session, one release per module."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.containers import deployment as deploy
from tests.containers.docker import docker_missing
from tests.containers.images import BuiltImages, build_all


@pytest.fixture(scope="session")
def images() -> BuiltImages:
    missing = docker_missing()
    if missing is not None:
        pytest.skip(f"container tests need a running Docker engine: {missing}")
    started = time.monotonic()
    built = build_all()
    total = time.monotonic() - started
    print(f"\n[containers] image builds: {total:.0f}s ({built.seconds})")
    return built


@pytest.fixture(scope="module")
def running(images: BuiltImages) -> Iterator[deploy.Deployment]:
    """The release started in order (Redis, Spark, scorers, generator), probes passing."""
    started = time.monotonic()
    deployment = deploy.create(images)
    try:
        deploy.start_pipeline(deployment)
        deployment.start_prometheus()
        print(f"\n[containers] release up in {time.monotonic() - started:.0f}s")
        yield deployment
    finally:
        deployment.shutdown()
