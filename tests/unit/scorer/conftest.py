"""Fixtures of the scorer's unit tests."""

from tests.unit.scorer.fixtures import (  # noqa: F401
    model_dir,
    models_dir,
    scorer_data,
    scorer_rows,
    scorer_tx,
)
