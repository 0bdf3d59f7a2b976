"""make images / image-sizes / image-check without a working Docker: one line, exit 1.

Needs the docker CLI (docker.io), not an engine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "k8s" / "images"


def run(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / script)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_images_without_a_docker_cli_say_what_to_install(tmp_path: Path) -> None:
    done = run("build-images.sh", DOCKER=str(tmp_path / "docker"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"images: no docker CLI at {tmp_path / 'docker'}: apt-get install -y docker.io "
        "(or set DOCKER=...)"
    ]


@pytest.mark.parametrize("script", ["build-images.sh", "image-sizes.sh", "check-images.sh"])
def test_an_engine_that_does_not_answer_is_one_line(script: str, tmp_path: Path) -> None:
    if not Path("/usr/bin/docker").exists():
        pytest.fail("the docker CLI (/usr/bin/docker) is missing: apt-get install -y docker.io")
    done = run(script, DOCKER_HOST=f"unix://{tmp_path / 'no-engine.sock'}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "the Docker engine does not answer" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
