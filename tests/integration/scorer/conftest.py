"""Fixtures of the scorer's integration tests (real redis-server, real artifacts)."""

from tests.unit.scorer.fixtures import model_dir, models_dir, scorer_rows, scorer_tx  # noqa: F401
