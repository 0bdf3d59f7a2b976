"""Settings of the generator container (env prefix ``RTAD_``; see rtad.common.settings)."""

from __future__ import annotations

from pydantic import Field

from rtad.common.settings import RtadSettings


class GeneratorSettings(RtadSettings):
    """Broker, stream layout, and how records are batched into Redis."""

    producer_batch: int = Field(
        default=2000, ge=1, le=100_000, description="XADDs per pipeline round trip."
    )
