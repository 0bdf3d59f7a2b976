"""Bad input to generate/replay/export, and any command's usage errors: one line saying what
is wrong, non-zero exit.

Argument errors run the console entry point in-process (``rtad.cli.main.main``: the same
error handling, without a second of interpreter start-up each); the cases that involve the
environment run the real script as a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rtad.cli.main import main
from rtad.common.local_redis import free_port

from .conftest import Run


def run_main(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> subprocess.CompletedProcess[str]:
    """``rtad ARGS`` in this process, as a CompletedProcess (exit code, stdout, stderr)."""
    saved = sys.argv
    sys.argv = ["rtad", *args]
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, int(exited.value.code or 0), out, err)


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    code, err = result.returncode, result.stderr
    assert code != 0
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("rtad: error:")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0]
    assert needle in errors[0], err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["replay", "/nonexistent/tx.jsonl"], "no such file"),
        (["generate", "--out", "x.csv", "--count", "5"], ".jsonl or .parquet"),
        (["generate", "--count", "5", "--scenarios", "heist=1"], "unknown scenario"),
        (["generate", "--count", "5", "--scenarios", "card_testing=x"], "not a number"),
        (["generate", "--count", "5", "--start", "yesterday"], "--start"),
        (["generate", "--count", "5", "--fraud-rate", "2"], "fraud_rate"),
        (["export", "everything", "--out", "x.jsonl"], "cannot export"),
        # usage errors (typer's): one line too, not a usage box
        (["generate", "--rate", "fast"], "Invalid value for '--rate'"),
        (["generate", "--no-such-flag"], "No such option: --no-such-flag"),
        (["label"], "Missing argument"),
        (["train", "--labels", "v.jsonl", "--chargeback-days", "-1"], "'--chargeback-days'"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], needle: str
) -> None:
    assert_one_line_error(run_main(args, capsys), needle)


def test_unknown_extension(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "tx.xml"
    path.write_text("<tx/>")
    assert_one_line_error(run_cli("replay", str(path)), "unknown extension")


def test_unreachable_redis(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "tx.jsonl"
    path.write_text("{}\n")
    env = {"RTAD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    assert_one_line_error(run_cli("replay", str(path), env=env), "cannot reach Redis")


def test_bad_redis_url_setting(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "tx.jsonl"
    path.write_text("{}\n")
    result = run_cli("replay", str(path), env={"RTAD_REDIS_URL": "http://example"})
    assert_one_line_error(result, "redis_url")
