"""Fault injection for the crash tests: pause or die between reading a batch and its EXEC.

Set ``RTAD_FAULT_INJECTION`` (never in production) to

- ``pause_before_commit@N:S`` — on the N-th batch, after scoring and before the commit,
  touch ``RTAD_FAULT_MARKER`` (if set) and sleep S seconds (a test sends SIGKILL or SIGTERM
  meanwhile);
- ``kill_before_commit@N`` — on the N-th batch, SIGKILL this process at that point;
- ``poison_value=V`` — the model raises on any row holding the feature value V (a row that
  can never be scored: it must end in the dead-letter stream after N deliveries).

>>> FaultPlan.parse("pause_before_commit@3:2.5")
FaultPlan(action='pause', at_batch=3, seconds=2.5, marker=None, poison_value=None)
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rtad.common.errors import RtadError

log = logging.getLogger(__name__)

_SPEC = re.compile(r"^(?P<action>pause|kill)_before_commit@(?P<batch>\d+)(?::(?P<s>[\d.]+))?$")
_POISON = re.compile(r"^poison_value=(?P<value>[-+0-9.eE]+)$")


class PoisonedModel:
    """A model that raises on rows holding ``value`` and delegates everything else."""

    def __init__(self, model: Any, value: float) -> None:
        self._model = model
        self._value = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def score(self, X: np.ndarray) -> np.ndarray:
        if (np.asarray(X) == self._value).any():
            raise ValueError(f"poisoned row (feature value {self._value!r})")
        return self._model.score(X)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class FaultPlan:
    """Which fault to inject, at which batch (1-based)."""

    action: Literal["pause", "kill"] | None = None
    at_batch: int = 0
    seconds: float = 0.0
    marker: Path | None = None
    poison_value: float | None = None

    @classmethod
    def parse(cls, spec: str, marker: Path | None = None) -> FaultPlan:
        if not spec:
            return cls()
        poison = _POISON.match(spec.strip())
        if poison is not None:
            return cls(poison_value=float(poison["value"]), marker=marker)
        match = _SPEC.match(spec.strip())
        if match is None:
            raise RtadError(
                f"RTAD_FAULT_INJECTION={spec!r} is not pause_before_commit@N:S, "
                "kill_before_commit@N or poison_value=V"
            )
        action: Literal["pause", "kill"] = "pause" if match["action"] == "pause" else "kill"
        return cls(action, int(match["batch"]), float(match["s"] or 0), marker)

    def wrap(self, model: Any) -> Any:
        """The model the worker should use (poisoned when asked)."""
        return model if self.poison_value is None else PoisonedModel(model, self.poison_value)

    def before_commit(self, batch_number: int) -> None:
        """Called by the worker after scoring batch ``batch_number``, before its EXEC."""
        if self.action is None or batch_number != self.at_batch:
            return
        log.warning("fault injection: %s before commit of batch %d", self.action, batch_number)
        if self.marker is not None:
            self.marker.write_text(f"{self.action} {batch_number} {os.getpid()}\n")
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.seconds)
