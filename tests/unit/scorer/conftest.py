"""Fixtures of the scorer's unit tests."""

from tests.unit.scorer.fixtures import model_dir, models_dir, scorer_rows, scorer_tx  # noqa: F401
