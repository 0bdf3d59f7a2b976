"""The models in use (the champion, and a challenger in shadow), swapped atomically.

Readers take :attr:`ModelHolder.models` once per batch and keep that pair until the batch is
committed, so a reload or a promotion never changes a model in the middle of a batch and never
drops one: the next batch simply sees the new pair. The pair is one tuple behind one reference:
assigning it is atomic for readers, so a batch never sees half a swap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rtad.common.errors import RtadError
from rtad.scorer.metrics import set_model_info


class ScoringModel(Protocol):
    """What the scorer uses of ``rtad.ml.model_store.LoadedModel``."""

    card: dict[str, Any]
    version: str
    feature_names: list[str]
    threshold: float

    def score(self, X: np.ndarray) -> np.ndarray: ...

    def score_beside(
        self, X: np.ndarray, champion_version: str, champion_scores: np.ndarray
    ) -> np.ndarray:
        """``score(X)``, free to reuse the champion's scores of the same rows (a challenger
        built on that champion takes them as an input)."""
        ...

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


class ChallengerRefused(RtadError):
    """A challenger the scorer cannot run beside its champion (one-line reason)."""


def check_challenger(champion: ScoringModel, challenger: ScoringModel, path: Path) -> None:
    """Refuse a challenger whose feature set differs from the stream's (the champion's)."""
    served, wanted = set(champion.feature_names), set(challenger.feature_names)
    if served != wanted:
        missing = ", ".join(sorted(wanted - served)[:5]) or "none"
        unused = ", ".join(sorted(served - wanted)[:5]) or "none"
        raise ChallengerRefused(
            f"challenger {path}: its feature set differs from the stream's "
            f"(not in the stream: {missing}; not used: {unused})"
        )


class ModelHolder:
    """Holds the champion and an optional challenger; reload and promote swap them."""

    def __init__(
        self, path: Path, loader: Loader = load_artifact, challenger_path: Path | None = None
    ) -> None:
        self._loader = loader
        self._lock = threading.Lock()  # serialises reloads; readers never take it
        self.path = Path(path)
        champion = loader(self.path)
        challenger = None
        self.challenger_path = Path(challenger_path) if challenger_path else None
        if self.challenger_path is not None:
            challenger = loader(self.challenger_path)
            check_challenger(champion, challenger, self.challenger_path)
        self._models: tuple[ScoringModel, ScoringModel | None] = (champion, challenger)
        self.loaded_at = time.time()
        set_model_info(champion.version, detector_name(champion))

    @property
    def current(self) -> ScoringModel:
        return self._models[0]

    @property
    def challenger(self) -> ScoringModel | None:
        return self._models[1]

    @property
    def models(self) -> tuple[ScoringModel, ScoringModel | None]:
        """``(champion, challenger or None)``, read once: one consistent pair."""
        return self._models

    def roles(self) -> dict[str, str]:
        """``{"champion": version, "challenger": version}`` of one consistent pair (no
        challenger key without a challenger)."""
        champion, challenger = self._models
        roles = {"champion": champion.version}
        if challenger is not None:
            roles["challenger"] = challenger.version
        return roles

    def reload(self, path: Path | None = None) -> ScoringModel:
        """Load ``path`` (default: the same path again) and make it the champion.

        The old model stays in use if loading fails (the loader's error propagates), and so
        does a challenger whose feature set the new champion does not serve.
        """
        with self._lock:
            target = Path(path) if path is not None else self.path
            model = self._loader(target)
            challenger = self._models[1]
            if challenger is not None and self.challenger_path is not None:
                check_challenger(model, challenger, self.challenger_path)
            self._models = (model, challenger)  # one reference assignment: atomic for readers
            self.path = target
            self.loaded_at = time.time()
            set_model_info(model.version, detector_name(model))
            return model

    def promote(self) -> tuple[ScoringModel, ScoringModel]:
        """Swap champion and challenger between two batches; returns the new pair.

        Raises :class:`ChallengerRefused` when there is no challenger to promote.
        """
        with self._lock:
            champion, challenger = self._models
            if challenger is None or self.challenger_path is None:
                raise ChallengerRefused("no challenger loaded (set RTAD_CHALLENGER_PATH)")
            self._models = (challenger, champion)
            self.path, self.challenger_path = self.challenger_path, self.path
            self.loaded_at = time.time()
            set_model_info(challenger.version, detector_name(challenger))
            return challenger, champion
