"""Settings of the streaming job (``rtad stream``): env prefix ``RTAD_``, frozen, validated."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from rtad.common.settings import RtadSettings


class StreamSettings(RtadSettings):
    """Everything ``rtad stream`` needs besides the broker and the stream layout."""

    master: str = Field(default="local[*]", description="Spark master URL.")
    checkpoint_dir: Path = Field(
        default=Path(".rtad/checkpoints/stream"),
        description="Checkpoint and RocksDB state location (a volume every Spark pod sees).",
    )
    trigger_interval: str = Field(
        default="500 milliseconds",
        pattern=r"^\d+\s*(milliseconds?|seconds?|minutes?|hours?)$",
        description=(
            "Micro-batch trigger interval, Spark interval text ('1 second'). A new row waits"
            " for the next trigger or the end of the running batch, whichever is later (a"
            " batch takes ~0.8 s on 2 cores); when idle, each interval costs one offset poll."
        ),
    )
    available_now: bool = Field(
        default=False, description="Process what is in the streams now, then stop."
    )
    max_records_per_batch: int = Field(
        default=100_000, ge=1, description="Admission control: rows per micro-batch, all shards."
    )
    split_rows: int = Field(
        default=50_000,
        ge=1,
        description=(
            "Rows one read task reads at most: a longer shard range is split over several"
            " tasks, short ranges of several shards share one."
        ),
    )
    state_partitions: int = Field(
        default=2,
        ge=1,
        le=4096,
        description=(
            "Spark tasks (shuffle partitions) of the stateful stage: each adds a fixed cost to"
            " every micro-batch (4 -> 2 tasks took a 2k-row batch from ~1.2 to ~0.85 s on 2"
            " cores), so match the executor cores the job will have."
            " Fixed for the life of a checkpoint (Spark keeps the first run's value)."
        ),
    )
    state_buckets: int = Field(
        default=4,
        ge=1,
        le=4096,
        description=(
            "Cards are grouped into this many state buckets (one vectorised feature call per"
            " bucket per batch, ~25 ms of fixed cost each): a power of two, at least"
            " state_partitions, spreads evenly over the tasks. Fixed for the life of a"
            " checkpoint."
        ),
    )
    state_slots: int = Field(
        default=1,
        ge=1,
        le=65_536,
        description=(
            "Each bucket's cards are stored in this many state values (a touched one is"
            " rewritten whole each batch): raise it for millions of cards. Fixed for the life"
            " of a checkpoint."
        ),
    )
    state_cache: bool = Field(
        default=True,
        description=(
            "Keep each slot's last written state in a file on the executor (its temp dir) and"
            " read it from there when the state store's tag for the slot matches, instead of"
            " through Spark's state server (see rtad.streaming.state_cache)."
        ),
    )
    state_cache_dir: Path | None = Field(
        default=None,
        description="Where executors keep the state cache (default: their temp dir).",
    )
    state_ttl_hours: float = Field(
        default=24.0 * 30, gt=0, description="Per-card state of a card idle this long is dropped."
    )
    starting_offsets: str = Field(
        default="cursor",
        pattern=r"^(cursor|earliest|latest)$",
        description="Where a new checkpoint starts: the 'spark' cursor group, earliest, latest.",
    )
    ui_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Spark UI port (also serves /metrics/prometheus); 0 disables the UI.",
    )
    executor_memory: str = Field(default="1g", pattern=r"^\d+[kmgKMG]$")
    driver_host: str | None = Field(
        default=None, description="Address executors use to reach the driver (cluster mode)."
    )

    @model_validator(mode="after")
    def _every_task_has_a_bucket(self) -> StreamSettings:
        if self.state_buckets < self.state_partitions:
            raise ValueError(
                f"state_buckets ({self.state_buckets}) is below state_partitions"
                f" ({self.state_partitions}): some tasks would have no cards"
            )
        return self
