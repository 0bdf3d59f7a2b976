"""The last state each slot was given, kept beside the executor's Python workers.

Reading a slot from Spark's state store costs more than the slot's bytes suggest: the value
crosses from RocksDB to Python as a Java string through the state server and its pickler —
RocksDB's bytes, a Java ``String``, ``UTF8String`` and the pickle each a pass over every byte
(Flight Recorder: the state server's thread held half of the JVM's samples in a bulk run
whose windows were full). Every batch reads back what the batch before it wrote, so each
write also leaves its bytes in a file on the executor, under a *tag* written to the state
store with the slot (:func:`slot_tag_key`) and a new random tag every write. A read first
asks the state store for the slot's tag (a few bytes), and takes the file when it holds
that tag; otherwise — another executor wrote it, a restart on a new machine, the file gone —
it reads the slot from the state store as before. Every write gives its slot a new tag,
whether the cache is on or not, so a file can never match a slot written after it.

Why this cannot give a stale slot: the tag and the slot are written in the same task, and
the state store commits both or neither. A task that failed after writing its file leaves a
tag its retry never finds (the store has kept the previous tag); a speculative duplicate
overwriting the file with its own tag only turns the next read into a miss. Files are
written whole under a temporary name and renamed.

Each query has a folder of its own (``<temp dir>/rtad-state-cache/<query id>``). A worker that
opens a query's cache removes the folders of other queries that nothing has written for
:data:`STALE_S` (a stopped job's, a checkpoint thrown away): without it they would stay on
the executor's disk for good. Removing a live query's folder could only cost it cache misses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)
_SEPARATOR = b"\n"
#: A query's cache folder that no write touched for this long is removed by other queries.
STALE_S = 24 * 3600.0


def slot_tag_key(slot: int) -> int:
    """The state key holding a slot's tag: ``-1 - slot`` beside the slots themselves (0 and
    up) in the same map state, so the state's schema is unchanged."""
    return -1 - slot


def new_tag(batch_id: int) -> str:
    """A tag no other write has: the batch and 64 random bits."""
    return f"{batch_id}:{secrets.token_hex(8)}"


class SlotCache:
    """Files ``<root>/<bucket>-<slot>``: a tag line, then the slot's stored bytes.

    A cache that cannot write (a read-only or full disk) logs it once and stays off: it is
    an optimisation, the state store remains the truth.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.enabled = True

    @classmethod
    def for_query(cls, query_id: str, base: Path | None = None) -> SlotCache:
        """The cache of one query (its id is kept across restarts by the checkpoint); other
        queries' folders idle for :data:`STALE_S` are removed."""
        parent = (base or Path(tempfile.gettempdir())) / "rtad-state-cache"
        _remove_stale(parent, keep=query_id, now=time.time())
        return cls(parent / query_id)

    def _path(self, bucket: int, slot: int) -> Path:
        return self.root / f"{bucket}-{slot}"

    def get(self, bucket: int, slot: int, tag: str) -> bytes | None:
        """The bytes written under ``tag``, or None (another tag, no file)."""
        if not self.enabled:
            return None
        try:
            data = self._path(bucket, slot).read_bytes()
        except OSError:
            return None
        head, _, value = data.partition(_SEPARATOR)
        return value if head == tag.encode() else None

    def put(self, bucket: int, slot: int, tag: str, value: bytes) -> None:
        if not self.enabled:
            return
        path = self._path(bucket, slot)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as out:
                out.write(tag.encode() + _SEPARATOR)
                out.write(value)
            os.replace(temporary, path)
        except OSError as exc:
            self.enabled = False
            log.warning("state cache off for this worker: cannot write %s (%s)", path, exc)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def _remove_stale(parent: Path, keep: str, now: float) -> None:
    """Remove the query folders under ``parent`` but ``keep`` that no write touched (a rename
    into a folder updates its time) for :data:`STALE_S`."""
    try:
        folders = [entry for entry in parent.iterdir() if entry.name != keep]
    except OSError:
        return
    for folder in folders:
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > STALE_S:
                shutil.rmtree(folder, ignore_errors=True)
                log.info("removed the state cache of an idle query: %s", folder)
