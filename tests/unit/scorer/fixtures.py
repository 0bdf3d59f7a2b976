"""Session fixtures of the scorer tests (imported by the unit and integration conftests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.scorer.support import (
    feature_rows,
    train_artifact,
    transactions,
    write_transactions,
)


@pytest.fixture(scope="session")
def scorer_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSONL file of 3,000 simulated labelled transactions of 80 cards."""
    return write_transactions(tmp_path_factory.mktemp("data") / "tx.jsonl", seed=0, count=3000)


@pytest.fixture(scope="session")
def scorer_tx(scorer_data: Path) -> pd.DataFrame:
    return transactions(scorer_data)


@pytest.fixture(scope="session")
def scorer_rows(scorer_tx: pd.DataFrame) -> list[dict[str, Any]]:
    """Their feature rows (encoding 1's JSON; see ``support.packed_fields`` for encoding 2)."""
    return feature_rows(scorer_tx)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, scorer_data: Path) -> Path:
    """A models/ directory with two artifacts trained by rtad.ml: champion and challenger."""
    root = tmp_path_factory.mktemp("models")
    train_artifact(scorer_data, root / "champion", detector="card_tails")
    train_artifact(scorer_data, root / "challenger", detector="isolation_forest")
    return root


@pytest.fixture(scope="session")
def model_dir(models_dir: Path) -> Path:
    return models_dir / "champion"
