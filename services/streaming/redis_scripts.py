"""Server-side Lua used by the Spark source: range scans that return IDs only, and
dead-lettering that happens at most once per input entry (so a replayed batch adds nothing).

Every key a script touches carries the same ``{shard}`` hash tag, so each runs in one slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from rtad.common.encoding import as_text, deadletter_fields
from rtad.common.redis_streams import parse_id
from rtad.streaming.records import DeadLetter

# KEYS[1] stream; ARGV after (exclusive ID), upto (inclusive ID or '+'), max rows (0 = all),
# split step (0 = no splits), rows already counted before ``after`` (a continued scan keeps
# the split positions of the scan it continues). Returns {count, last ID, {every step-th ID}}.
# Reads in chunks so one call never builds a huge Lua table.
_SCAN = """
local key, after, upto = KEYS[1], ARGV[1], ARGV[2]
local max_rows, step, counted = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count, last, splits = 0, after, {}
while true do
  local want = 1000
  if max_rows > 0 then want = math.min(want, max_rows - count) end
  if want <= 0 then break end
  local entries = redis.call('XRANGE', key, '(' .. last, upto, 'COUNT', want)
  for _, e in ipairs(entries) do
    count = count + 1
    if step > 0 and (counted + count) % step == 0 then table.insert(splits, e[1]) end
  end
  if #entries > 0 then last = entries[#entries][1] end
  if #entries < want then break end
end
return {count, last, splits}
"""

# KEYS[1] dead-letter stream, KEYS[2] zset of input IDs already dead-lettered, KEYS[3] stats.
# ARGV: groups of (entry id, its ms, then the 8 flat dead-letter fields).
_DEADLETTER_ONCE = """
local added = 0
for i = 1, #ARGV, 10 do
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[i + 1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 9))
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[3], 'deadletter', added) end
return added
"""


@dataclass(frozen=True, slots=True)
class Scan:
    """What lies in ``(after, upto]`` of a stream: how many entries, the last ID, split IDs."""

    count: int
    last: str
    splits: tuple[str, ...]


def scan(
    client: redis.Redis,
    key: str,
    after: str,
    upto: str = "+",
    max_rows: int = 0,
    step: int = 0,
    counted: int = 0,
) -> Scan:
    """Count (up to ``max_rows``) the entries after ``after``; IDs only cross the network.

    ``counted``: rows a previous scan found before ``after`` — this one continues it, and its
    splits fall where one scan over both ranges would put them (see :func:`continue_scan`).
    """
    reply = client.eval(_SCAN, 1, key, after, upto, max_rows, step, counted)  # type: ignore[misc]
    count, last, splits = reply  # type: ignore[misc]
    return Scan(int(count), as_text(last), tuple(as_text(s) for s in splits))


def continue_scan(
    client: redis.Redis, key: str, found: Scan, upto: str = "+", max_rows: int = 0, step: int = 0
) -> Scan:
    """``found`` (an earlier scan from some ID) extended to what one scan from that ID with
    ``upto``/``max_rows``/``step`` would find now: the entries it counted are immutable
    (a stream only grows at its end), so only the ones after ``found.last`` are read."""
    if max_rows and found.count >= max_rows:
        return found
    more = scan(
        client,
        key,
        found.last,
        upto,
        max_rows=max_rows - found.count if max_rows else 0,
        step=step,
        counted=found.count,
    )
    return Scan(found.count + more.count, more.last, found.splits + more.splits)


def deadletter_once(
    client: redis.Redis, keys: tuple[str, str, str], letters: Sequence[DeadLetter]
) -> int:
    """Dead-letter ``letters`` unless their input entry already was; returns how many were added."""
    args: list[bytes | str | int] = []
    for letter in letters:
        args += [letter.entry_id, parse_id(letter.entry_id)[0]]
        for name, value in deadletter_fields(
            letter.reason, "stream", letter.payload, letter.source
        ).items():
            args += [name, value]
    if not args:
        return 0
    return int(client.eval(_DEADLETTER_ONCE, 3, *keys, *args))  # type: ignore[arg-type]
