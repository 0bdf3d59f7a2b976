"""Typed settings shared by every service (pydantic-settings, env prefix ``RTAD_``).

Each service subclasses :class:`RtadSettings` with its own fields; the env names appear only
here, in the services' settings classes and in the chart's values. ``RTAD_REDIS_URL`` carries
the password (from a Secret on Kubernetes) and is never printed unmasked.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rtad.common.streams import StreamNames


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``.

    >>> mask_url("redis://:hunter2@redis:6379/0")
    'redis://:***@redis:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, ""))


class RtadSettings(BaseSettings):
    """What every service needs: the broker, the stream layout, the metrics port."""

    model_config = SettingsConfigDict(env_prefix="RTAD_", frozen=True, extra="ignore")

    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        description="Broker URL, password included (from a Secret on Kubernetes).",
    )
    stream_prefix: str = Field(default="rtad", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    shards: int = Field(default=4, ge=1, le=1024, description="Number of shards of every stream.")
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 disables the exporter.")
    high_water: int = Field(
        default=200_000,
        ge=1,
        description="Per-shard unread backlog above which producers wait (never trim unread).",
    )
    low_water: int = Field(default=100_000, ge=0, description="Producers resume below this.")

    @field_validator("redis_url")
    @classmethod
    def _scheme(cls, v: SecretStr) -> SecretStr:
        scheme = urlsplit(v.get_secret_value()).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(
                "RTAD_REDIS_URL must start with redis://, rediss:// or unix:// "
                f"(got {scheme or 'no scheme'!r})"
            )
        return v

    @property
    def streams(self) -> StreamNames:
        return StreamNames(prefix=self.stream_prefix, shards=self.shards)

    @property
    def redis_url_masked(self) -> str:
        return mask_url(self.redis_url.get_secret_value())
