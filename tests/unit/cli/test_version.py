"""The version is written once (rtad.__version__); the package metadata and the CLI follow it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import rtad


def test_package_metadata_carries_the_one_version() -> None:
    assert version("rtad") == rtad.__version__


def test_cli_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rtad.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rtad {rtad.__version__}"
