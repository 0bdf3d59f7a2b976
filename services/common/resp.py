"""Hand-packed Redis commands: the RESP wire format and a pooled connection to send it on.

The hot paths (the producer, the Spark source and sink, the scorer's commit) pack their
commands themselves and read the replies with the client's parser: redis-py builds a command
object, a callback and a dict per entry, which cost more than Redis' own work at these rates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from rtad.common.encoding import DATA_FIELD, ENCODING_VERSION, VERSION_FIELD


def pack_command(*parts: bytes) -> bytes:
    """One Redis command in the RESP wire format (arguments already bytes).

    >>> pack_command(b"XLEN", b"k")
    b'*2\\r\\n$4\\r\\nXLEN\\r\\n$1\\r\\nk\\r\\n'
    """
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def xadd_prefix(key: str, version: bytes = ENCODING_VERSION, pairs: int = 2) -> bytes:
    """Everything of ``XADD <key> * v <version> d <payload> …`` before the payload's
    ``$<len>``, for an entry of ``pairs`` field-value pairs (``v`` and ``d`` first).

    >>> xadd_prefix("k")
    b'*7\\r\\n$4\\r\\nXADD\\r\\n$1\\r\\nk\\r\\n$1\\r\\n*\\r\\n$1\\r\\nv\\r\\n$1\\r\\n1\\r\\n$1\\r\\nd\\r\\n'
    >>> xadd_prefix("k", b"2", pairs=3)[:4]
    b'*9\\r\\n'
    """
    head = pack_command(b"XADD", key.encode(), b"*", VERSION_FIELD, version, DATA_FIELD)
    return head.replace(b"*6\r\n", b"*%d\r\n" % (3 + 2 * pairs), 1)


@contextmanager
def pooled_connection(client: redis.Redis) -> Iterator[Any]:
    """One of the client's pooled connections, for hand-packed commands (see :func:`exchange`).

    A connection left half-read (or WATCHing) by an exception is closed rather than pooled.
    """
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        yield conn
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def exchange(conn: Any, data: Sequence[bytes | memoryview], replies: int) -> Any:
    """Send packed commands (:func:`pack_command`) on ``conn``, read ``replies`` replies and
    return the last one, without redis-py's per-command objects and response callbacks.

    Every reply is read even after an error reply, so the connection stays in step; then the
    first error raises.
    """
    return exchange_all(conn, data, replies)[-1] if replies else None


def exchange_all(conn: Any, data: Sequence[bytes | memoryview], replies: int) -> list[Any]:
    """:func:`exchange`, returning every reply (in order) instead of the last one."""
    conn.send_packed_command(data, check_health=True)
    error: redis.ResponseError | None = None
    out: list[Any] = []
    for _ in range(replies):
        try:
            out.append(conn.read_response())
        except redis.ResponseError as exc:  # keep reading: the replies must be drained
            error = error or exc
            out.append(exc)
    if error is not None:
        raise error
    return out
