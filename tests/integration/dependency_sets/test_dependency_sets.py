"""Each service runs inside its own dependency set, as uv.lock pins it for its image.

For every service a fresh environment is built from uv.lock with only that service's extra
(``uv sync --locked --no-dev --extra <service>``, from uv's cache once ``make install`` ran),
then ``import_closure.py`` imports the service's entry points there and checks the other
services' libraries absent. A module-level import outside the set fails its service's test.
``make image-check`` runs the same script inside the built images.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CHECKER = Path(__file__).with_name("import_closure.py")
SERVICES = ("generator", "ml", "scorer", "streaming")

pytestmark = pytest.mark.packaging


def uv_binary() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "uv" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is missing: run `make install` (it bootstraps uv into .tools/uv)")
    return found


@pytest.fixture(scope="module")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build (once per module) an environment per service from uv.lock; name -> python."""
    envs: dict[str, Path] = {}
    for extra in SERVICES:
        target = tmp_path_factory.mktemp(f"env-{extra}")
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(target), "UV_PYTHON_DOWNLOADS": "never"}
        done = subprocess.run(
            [uv_binary(), "sync", "--locked", "--no-dev", "--extra", extra, "--quiet"]
            + ["--python", sys.executable],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, f"uv sync --extra {extra} failed:\n{done.stderr}"
        envs[extra] = target / "bin" / "python"
    return envs


def run_checker(python: Path, service: str, *options: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON")}
    return subprocess.run(
        [str(python), str(CHECKER), service, *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_entry_points_import_within_the_set(service: str, service_env: dict[str, Path]) -> None:
    done = run_checker(service_env[service], service)
    assert done.returncode == 0, done.stderr


def test_an_import_outside_the_set_fails(service_env: dict[str, Path]) -> None:
    """The check can fail: the generator's set has no scikit-learn, and it does have numpy."""
    options = ("--also-import", "sklearn", "--also-absent", "numpy")
    done = run_checker(service_env["generator"], "generator", *options)
    assert done.returncode == 1
    assert "generator: sklearn: needs 'sklearn', which is not in this dependency set" in (
        done.stderr
    )
    assert "generator: numpy is installed, but it is outside this dependency set" in done.stderr


def test_generator_writes_transactions_within_its_set(
    service_env: dict[str, Path], tmp_path: Path
) -> None:
    rtad = service_env["generator"].parent / "rtad"
    out = tmp_path / "tx.jsonl"
    done = subprocess.run(
        [str(rtad), "generate", "--count", "50", "--seed", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 50


def test_scorer_loads_and_scores_the_champion_within_its_set(
    service_env: dict[str, Path],
) -> None:
    script = (
        "import numpy as np; from rtad.ml.model_store import load_model; "
        "m = load_model('models/champion'); "
        "print(m.score(np.ones((3, len(m.feature_names)))).shape)"
    )
    done = subprocess.run(
        [str(service_env["scorer"]), "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3,)"
