"""The runnable examples in docstrings stay true: every rtad module that has one is checked."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import rtad


def modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(rtad.__path__, prefix="rtad."):
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec else None
        # an example that runs (not only a commented usage line)
        if origin and origin.endswith(".py") and re.search(r">>> [^#]", Path(origin).read_text()):
            names.append(info.name)
    return sorted(names)


MODULES = modules_with_examples()


def test_the_examples_of_every_layer_are_found() -> None:
    for name in (
        "rtad.common.encoding",
        "rtad.scorer.worker.faults",
        "rtad.streaming.redis_source",
    ):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result
