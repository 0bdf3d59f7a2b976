"""The runnable examples in the generator's docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["geo", "population", "simulator"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"rtad.generator.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
