"""Spark's ``Murmur3Hash`` of a long: which task a grouping value is sent to.

Spark's hash partitioning sends a row to ``pmod(murmur3_x86_32(key, seed=42), partitions)``;
for a ``bigint`` key that is the 32-bit Murmur3 of its 8 little-endian bytes (``mmh3``).
"""

from __future__ import annotations

import struct

import mmh3

SPARK_SEED = 42


def hash_long(value: int) -> int:
    """``hash(value)`` of Spark SQL for a bigint value (signed 32-bit).

    >>> hash_long(0), hash_long(1)
    (-1670924195, -1712319331)
    """
    return mmh3.hash(struct.pack("<q", value), SPARK_SEED, signed=True)
