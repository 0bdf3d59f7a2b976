"""Typed settings of the scorer (``rtad serve`` and its stream worker), env prefix ``RTAD_``."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from rtad.common.settings import RtadSettings

DEFAULT_MODEL_PATH = Path("models/champion")


def default_consumer_name() -> str:
    """``<pod or host>-<pid>``: unique per replica and per restart of a replica."""
    host = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}-{os.getpid()}"


class ScorerSettings(RtadSettings):
    """What the scorer needs beyond the shared settings."""

    model_path: Path = Field(
        default=DEFAULT_MODEL_PATH, description="Model artifact directory (rtad.ml.model_store)."
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Key of the write and admin endpoints (labels, model). Unset: they answer 403.",
    )
    redis_attempts: int = Field(
        default=5, ge=1, le=100, description="Connection attempts (with backoff) at start."
    )
    host: str = Field(default="0.0.0.0", description="HTTP bind address.")
    port: int = Field(default=8000, ge=1, le=65535, description="HTTP port.")
    worker_enabled: bool = Field(default=True, description="Run the stream worker in the app.")
    consumer_name: str = Field(
        default_factory=default_consumer_name,
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="Consumer name in the group (pod name + pid by default).",
    )
    batch_count: int = Field(
        default=1000, ge=1, le=100_000, description="XREADGROUP COUNT per shard and batch."
    )
    block_ms: int = Field(default=500, ge=1, le=60_000, description="XREADGROUP BLOCK (ms).")
    claim_idle_ms: int = Field(
        default=30_000,
        ge=10,
        description="Entries pending longer than this belong to a dead consumer: XAUTOCLAIM.",
    )
    claim_interval_s: float = Field(default=5.0, gt=0, description="How often to look for them.")
    max_deliveries: int = Field(
        default=5, ge=1, description="An entry delivered more often is dead-lettered."
    )
    retention_s: int = Field(
        default=3600, ge=10, description="Scores/alerts older than this are trimmed (MINID)."
    )
    maintenance_interval_s: float = Field(
        default=5.0, gt=0, description="Trimming, lag gauges and consumer clean-up period."
    )
    max_rows: int = Field(default=10_000, ge=1, description="Rows per POST /v1/score.")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Request body limit (413 above)."
    )
    blas_threads: int = Field(
        default=1, ge=1, le=64, description="BLAS threads of the worker process (see worker)."
    )
    drift_window_rows: int = Field(
        default=50_000, ge=100, description="Rows in the rolling window of the drift PSI."
    )
    fault_injection: str = Field(
        default="", description="Test hook only (rtad.scorer.worker.faults); empty in production."
    )
    fault_marker: Path | None = Field(
        default=None, description="File the fault hook touches when it fires (tests)."
    )
    alert_mode: Literal["fixed", "budget"] = Field(
        default="fixed",
        description="Alert threshold: the model's fixed one, or following the alert budget.",
    )
    alert_budget_per_hour: float = Field(
        default=100.0, gt=0, description="Alerts per hour of event time (all shards together)."
    )
    alert_budget_window_s: int = Field(
        default=86_400,
        ge=60,
        description="Event-time window of the budget's traffic share, calibration and debt "
        "(a day: traffic has a daily cycle, the budget holds over it); its debt is made up "
        "over half of it.",
    )
    challenger_path: Path | None = Field(
        default=None, description="A second model scored in shadow (never alerts)."
    )
    quality_enabled: bool = Field(
        default=True, description="Consume the labels streams and measure alert quality."
    )
    quality_k: int = Field(default=100, ge=1, le=100_000, description="k of Card Precision@k.")
    quality_days: int = Field(default=7, ge=1, le=90, description="Days reported by CP@k.")
    quality_retention_days: int = Field(
        default=30, ge=1, le=365, description="Alerts and verdicts kept for quality (days)."
    )
    quality_interval_s: float = Field(
        default=15.0, gt=0, description="How often the worker refreshes the quality gauges."
    )
    label_hold_s: int = Field(
        default=600, ge=1, description="A verdict waits this long for its transaction's score."
    )
