"""One lint gate: pre-commit runs exactly the commands of `make lint`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def make_lint_commands() -> list[str]:
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "Makefile has no lint target"
    lines = [line.strip() for line in recipe.group(1).splitlines()]
    return [line.replace("$(BIN)/", ".venv/bin/") for line in lines]


def pre_commit_commands() -> list[str]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(hook["language"] == "system" for hook in hooks), "hooks must download nothing"
    assert all(hook["pass_filenames"] is False for hook in hooks), "hooks lint the whole tree"
    return [hook["entry"] for hook in hooks]


def test_pre_commit_runs_the_make_lint_commands() -> None:
    assert pre_commit_commands() == make_lint_commands()
