"""The model in use, swapped atomically on reload.

Readers take :attr:`ModelHolder.current` once per batch and keep that reference until the
batch is committed, so a reload never changes the model in the middle of a batch and never
drops one: the next batch simply sees the new model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rtad.scorer.metrics import set_model_info


class ScoringModel(Protocol):
    """What the scorer uses of ``rtad.ml.model_store.LoadedModel``."""

    card: dict[str, Any]
    version: str
    feature_names: list[str]
    threshold: float

    def score(self, X: np.ndarray) -> np.ndarray: ...

    def reasons(self, X: np.ndarray, top_k: int = 3) -> list[list[dict[str, Any]]]: ...


Loader = Callable[[Path], ScoringModel]


def load_artifact(path: Path) -> ScoringModel:
    """Load with the ML engineer's model store (raises ``ModelLoadError``, one line)."""
    from rtad.ml.model_store import load_model

    return load_model(path)  # type: ignore[no-any-return]


def detector_name(model: ScoringModel) -> str:
    """The detector's name from the model card, for ``rtad_scorer_model_info``."""
    card = model.card or {}
    for key in ("detector", "model_type", "algorithm", "name"):
        value = card.get(key)
        if isinstance(value, str) and value:
            return value
    return "unknown"


class ModelHolder:
    """Holds the current model; :meth:`reload` loads a new one and swaps the reference."""

    def __init__(self, path: Path, loader: Loader = load_artifact) -> None:
        self._loader = loader
        self._lock = threading.Lock()  # serialises reloads; readers never take it
        self.path = Path(path)
        self._model = loader(self.path)
        self.loaded_at = time.time()
        set_model_info(self._model.version, detector_name(self._model))

    @property
    def current(self) -> ScoringModel:
        return self._model

    def reload(self, path: Path | None = None) -> ScoringModel:
        """Load ``path`` (default: the same path again) and make it current.

        The old model stays in use if loading fails (the loader's error propagates).
        """
        with self._lock:
            target = Path(path) if path is not None else self.path
            model = self._loader(target)
            self._model = model  # one reference assignment: atomic for readers
            self.path = target
            self.loaded_at = time.time()
            set_model_info(model.version, detector_name(model))
            return model
