"""The images the chart runs, built once per test session (Docker's layer cache does the rest).

The project's ``make images`` / ``make base-image`` build them when the Makefile has those
targets; until then this module builds the three service images from their Dockerfiles on a
``debootstrap`` base (no registry is reachable: the Dockerfiles' ``# syntax=`` line, which
pulls a frontend image, is left out). Redis runs from Debian's ``redis-server`` package on the
same base, standing in for the official image the chart names. What the chart is told to run
is returned as ``--set`` values, so switching builders changes nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from tests.containers.chart import REPO
from tests.containers.docker import DOCKER, docker

BASE_IMAGE = "rtad-base:bookworm"
#: The base this module builds itself when the Makefile has no base-image target (a tag of
#: its own, so that it never replaces the project's).
OWN_BASE_IMAGE = "rtad-ct-base:bookworm"
SERVICES = ("generator", "streaming", "scorer")
REDIS_CONTEXT = Path(__file__).with_name("redis-image")
REDIS_DOCKERFILE = REDIS_CONTEXT / "Dockerfile"
REDIS_IMAGE = ("rtad-redis-debian", "bookworm")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass
class BuiltImages:
    """Chart values naming the built images, the base they share, how long each build took."""

    values: dict[str, str]
    base: str = OWN_BASE_IMAGE
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, what: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        step()
        self.seconds[what] = round(time.monotonic() - started, 1)


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def build_all() -> BuiltImages:
    """The base, the three service images and Redis; returns the values that name them."""
    targets = make_targets()
    built = BuiltImages(values={})
    if "base-image" in targets:
        built.base = BASE_IMAGE
        if not image_exists(BASE_IMAGE):  # CI builds it before the tests; debootstrap is slow
            built.timed("base", lambda: _run(["make", "base-image"]))
    elif not image_exists(OWN_BASE_IMAGE):
        built.timed("base", lambda: debootstrap_base(OWN_BASE_IMAGE))
    tag = "dev" if "images" in targets else "ct"
    if "images" in targets:
        # Both names a Makefile may give the base build argument; the unused one is harmless.
        base_args = [f"PYTHON_IMAGE={built.base}", f"BASE_IMAGE={built.base}"]
        built.timed("services", lambda: _run(["make", "images", *base_args]))
    else:
        for service in SERVICES:
            built.timed(service, partial(build_service, service, tag, built.base))
    for service in SERVICES:
        built.values[f"{service}.image.repository"] = f"rtad-{service}"
        built.values[f"{service}.image.tag"] = tag
    dockerfile = REDIS_DOCKERFILE.read_text()
    redis_ref = ":".join(REDIS_IMAGE)
    built.timed("redis", partial(_build, dockerfile, redis_ref, built.base, REDIS_CONTEXT))
    built.values["redis.image.repository"], built.values["redis.image.tag"] = REDIS_IMAGE
    return built


def debootstrap_base(tag: str) -> None:
    """A python:3.11-slim stand-in from Debian packages, trusting the host's CA bundle."""
    with tempfile.TemporaryDirectory(prefix="rtad-base-") as root:
        rootfs = Path(root) / "rootfs"
        packages = "python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={packages}",
                "bookworm",
                str(rootfs),
                "http://deb.debian.org/debian",
            ]
        )
        (rootfs / CA_BUNDLE.lstrip("/")).write_bytes(Path(CA_BUNDLE).read_bytes())
        env = f"ENV LANG=C.UTF-8 PIP_CERT={CA_BUNDLE} SSL_CERT_FILE={CA_BUNDLE}"
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _run(
            [DOCKER, "import", "--change", env, "--change", 'CMD ["/bin/bash"]', "-", tag],
            stdin=tar.stdout,
        )
        tar.wait()


def build_service(service: str, tag: str, base: str) -> None:
    dockerfile = (REPO / "services" / service / "Dockerfile").read_text()
    without_frontend = "".join(
        line for line in dockerfile.splitlines(keepends=True) if not line.startswith("# syntax=")
    )
    _build(without_frontend, f"rtad-{service}:{tag}", base, REPO)


def _build(dockerfile: str, tag: str, base: str, context: Path) -> None:
    argv = [DOCKER, "build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}"]
    argv += ["--build-arg", f"BASE_IMAGE={base}", "-t", tag, "-f", "-", str(context)]
    _run(argv, input_text=dockerfile)


def _run(argv: list[str], input_text: str | None = None, stdin: IO[bytes] | None = None) -> None:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    done = subprocess.run(
        argv,
        input=input_text,
        stdin=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{(done.stdout + done.stderr)[-3000:]}")
