"""Fixtures of the chart tests: rendered manifests per values set."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.k8s.helm import VALUES_SETS, render


@pytest.fixture(params=sorted(VALUES_SETS))
def values_set(request: pytest.FixtureRequest) -> str:
    """Each named values set in turn."""
    return str(request.param)


@pytest.fixture
def rendered(values_set: str) -> list[dict[str, Any]]:
    """The chart rendered with ``values_set``."""
    return render(VALUES_SETS[values_set])


@pytest.fixture
def default_docs() -> list[dict[str, Any]]:
    """The chart rendered with its defaults."""
    return render()
