"""Spark's ``Murmur3Hash`` of a long: which task a grouping value is sent to, and the grouping
value of each state bucket.

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


def bucket_keys(buckets: int) -> list[int]:
    """The grouping value of each of ``buckets`` state buckets, so that Spark spreads them
    evenly over its tasks.

    Spark sends grouping value ``v`` to task ``pmod(murmur3(v), partitions)``: grouped by
    the bare bucket numbers 0..15, two tasks got 9 and 7 buckets, four got 6, 6, 1 and 3.
    Key ``k`` of bucket ``b`` is the smallest integer whose hash has ``b``'s low bits, so
    every power-of-two number of tasks up to ``buckets`` gets the same number of buckets.
    The keys depend on ``buckets`` alone (fixed for a checkpoint's life).

    >>> bucket_keys(4)
    [2, 0, 14, 3]
    """
    mask = (1 << max(buckets - 1, 0).bit_length()) - 1
    keys: dict[int, int] = {}
    candidate = 0
    while len(keys) < buckets:
        low = hash_long(candidate) & mask
        if low < buckets and low not in keys:
            keys[low] = candidate
        candidate += 1
    return [keys[b] for b in range(buckets)]
