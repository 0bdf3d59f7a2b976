"""The images the chart runs, built once per test session (Docker's layer cache does the rest).

The project's own targets build them: ``make base-image`` (a ``debootstrap`` base, only when
missing: it is slow) and ``make images`` on that base. Redis runs from Debian's
``redis-server`` package on the same base, standing in for the official image the chart names
(no registry is reachable where the test runs). What the chart is told to run is returned as
``--set`` values.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.containers.chart import REPO
from tests.containers.docker import DOCKER, docker

BASE_IMAGE = "rtad-base:bookworm"
TAG = "dev"
SERVICES = ("generator", "streaming", "scorer")
REDIS_CONTEXT = Path(__file__).with_name("redis-image")
REDIS_IMAGE = ("rtad-redis-debian", "bookworm")


@dataclass
class BuiltImages:
    """Chart values naming the built images, the base they share, how long each build took."""

    values: dict[str, str]
    base: str = BASE_IMAGE
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, what: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        step()
        self.seconds[what] = round(time.monotonic() - started, 1)


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def build_all() -> BuiltImages:
    """The base, the three service images and Redis; returns the values that name them."""
    built = BuiltImages(values={})
    if not image_exists(BASE_IMAGE):  # CI builds it before the tests; debootstrap is slow
        built.timed("base", lambda: _run(["make", "base-image"]))
    make_images = ["make", "images", f"BASE_IMAGE={BASE_IMAGE}", f"IMAGE_TAG={TAG}"]
    built.timed("services", lambda: _run(make_images))
    for service in SERVICES:
        built.values[f"{service}.image.repository"] = f"rtad-{service}"
        built.values[f"{service}.image.tag"] = TAG
    redis_ref = ":".join(REDIS_IMAGE)
    build_redis = [DOCKER, "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    built.timed("redis", lambda: _run([*build_redis, "-t", redis_ref, str(REDIS_CONTEXT)]))
    built.values["redis.image.repository"], built.values["redis.image.tag"] = REDIS_IMAGE
    return built


def _run(argv: list[str]) -> None:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{(done.stdout + done.stderr)[-3000:]}")
