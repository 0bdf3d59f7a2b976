"""Session fixtures of the scorer tests (imported by the unit and integration conftests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.scorer.support import feature_rows, train_artifact, transactions


@pytest.fixture(scope="session")
def scorer_tx() -> pd.DataFrame:
    """3,000 simulated labelled transactions of 80 cards."""
    return transactions(seed=0, count=3000)


@pytest.fixture(scope="session")
def scorer_rows(scorer_tx: pd.DataFrame) -> list[dict[str, Any]]:
    """Their feature entries, as the Spark job writes them."""
    return feature_rows(scorer_tx)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, scorer_tx: pd.DataFrame) -> Path:
    """A models/ directory with two real artifacts: ``champion`` and ``challenger``."""
    root = tmp_path_factory.mktemp("models")
    train_artifact(root / "champion", scorer_tx, seed=0)
    train_artifact(root / "challenger", scorer_tx, seed=1)
    return root


@pytest.fixture(scope="session")
def model_dir(models_dir: Path) -> Path:
    return models_dir / "champion"
