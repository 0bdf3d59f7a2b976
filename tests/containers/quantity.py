"""Kubernetes resource quantities as Docker wants them.

>>> cpus("500m"), cpus("1"), cpus(2)
(0.5, 1.0, 2.0)
>>> memory_bytes("1536Mi"), memory_bytes("1Gi"), memory_bytes("128M")
(1610612736, 1073741824, 128000000)
>>> seconds("5s"), seconds("2m")
(5, 120)
"""

from __future__ import annotations

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def cpus(value: str | int | float) -> float:
    text = str(value)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_bytes(value: str | int) -> int:
    text = str(value)
    for suffix, factor in {**_BINARY, **_DECIMAL}.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def seconds(duration: str) -> int:
    """A Prometheus duration of one unit (s, m, h) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    return int(duration[:-1]) * units[duration[-1]]
