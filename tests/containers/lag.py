"""A known, steady consumer lag on every feature shard, made without losing an entry.

With the pipeline running the scorer group's lag is mostly 0 (the replicas keep up), and
0 = 0 x 2 says nothing about double counting. ``XGROUP SETID <its own last id> ENTRIESREAD
<n - offset>`` leaves what the group delivers unchanged but makes Redis report ``offset``
more lag, steadily. The script reads and sets in one step, so no delivery runs in between.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from rtad.common.streams import SCORER_GROUP, StreamNames

_OFFSET_LAG = """
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  if fields['name'] == ARGV[1] then
    local read = tonumber(fields['entries-read'])
    redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], fields['last-delivered-id'],
               'ENTRIESREAD', read - tonumber(ARGV[2]))
    return read
  end
end
return redis.error_reply('no group ' .. ARGV[1])
"""


def offset_lag(client: redis.Redis, names: StreamNames, per_shard: dict[int, int]) -> None:
    script = client.register_script(_OFFSET_LAG)
    for shard, offset in per_shard.items():
        script(keys=[names.key("features", shard)], args=[SCORER_GROUP, offset])


def redis_lag(client: redis.Redis, names: StreamNames) -> dict[int, int]:
    """XINFO GROUPS lag of the scorer group, per shard."""
    out = {}
    for shard, key in enumerate(names.all("features")):
        for group in client.xinfo_groups(key):
            if group["name"] in (SCORER_GROUP, SCORER_GROUP.encode()) and group["lag"] is not None:
                out[shard] = int(group["lag"])
    return out


def group_backlog(client: redis.Redis, keys: Iterable[str], group: str) -> int:
    """Entries of ``keys`` that ``group`` has not delivered or not acknowledged."""
    total = 0
    for key in keys:
        for info in client.xinfo_groups(key):
            if info["name"] in (group, group.encode()):
                total += int(info.get("lag") or 0) + int(info["pending"])
    return total
