"""The alert budget's threshold, computed in Redis from a shard's committed state.

:class:`rtad.scorer.alert_budget.AlertBudget` packs the call (``read_command``) and keeps
what it returns (``apply``); the controller is described in :mod:`rtad.scorer.alert_budget`.
"""

#: The rank's correction stays within these factors: a window far over its budget still
#: alerts a quarter of its share (at least the span's top score), one far under never more
#: than twice its share.
CORRECTION = (0.25, 2.0)

#: KEYS[1] the counts hash, then each model's bucket sets, oldest first. ARGV[1] models,
#: [2] buckets, [3] short buckets, [4] alerts wanted per ms, [5] bucket ms, [6] ms elapsed in
#: the newest bucket, [7] the least rank, [8] the catch-up ms, [9] and [10] the correction's
#: bounds, then the buckets' numbers (the counts' fields), then per model the fields of its
#: alerts per bucket and those of its aimed alerts per bucket. Returns per model the threshold
#: and its aim (the share of the span's transactions it would have alerted), '' and '' when
#: none can be had; numbers are written with 17 digits, so the threshold is the kept score
#: itself. The correction of the rank multiplies the calibration (alerts aimed at over
#: alerts raised, in the window's buckets judged by a budget threshold) by the debt term
#: (one plus the window's alerts owed to the budget over the budget of the catch-up time).
#: A tie at the rank moves the threshold up to the lowest score above the tie (none when
#: every kept score ties).
THRESHOLD_SCRIPT = """
local models, n, short = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, bucket, elapsed, least = tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7])
local catch_up, low, high = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local head = 10
local counts = redis.call('HMGET', KEYS[1], unpack(ARGV, head + 1, head + n))
local first, total = nil, 0
for i = 1, n do
  local c = tonumber(counts[i]) or 0
  counts[i] = c
  total = total + c
  if c > 0 and not first then first = i end
end
if not first or n - first < 1 then
  local none = {}
  for m = 1, 2 * models do none[m] = '' end
  return none
end
local covered = (n - first) * bucket + elapsed
local wanted = rate * covered
local share = wanted / total
local span, rank, seen = short, 0, 0
while true do
  seen = 0
  for i = n - span + 1, n do seen = seen + counts[i] end
  rank = share * seen
  if rank >= least or span >= n - first + 1 then break end
  span = math.min(span * 2, n - first + 1)
end
local out = {}
for m = 0, models - 1 do
  local fields = head + n + 2 * m * n
  local raised = redis.call('HMGET', KEYS[1], unpack(ARGV, fields + 1, fields + n))
  local aimed = redis.call('HMGET', KEYS[1], unpack(ARGV, fields + n + 1, fields + 2 * n))
  local sum, judged, meant = 0, 0, 0
  for i = first, n do
    local a, e = tonumber(raised[i]) or 0, tonumber(aimed[i]) or 0
    sum = sum + a
    if e > 0 then judged, meant = judged + a, meant + e end
  end
  local fix = 1
  if wanted >= 4 * least then
    local calibration = 1
    if meant >= 4 * least then calibration = meant / math.max(judged, 1) end
    fix = calibration * (1 + (wanted - sum) / (rate * catch_up))
    fix = math.min(high, math.max(low, fix))
  end
  local r = math.max(1, math.floor(rank * fix + 0.5))
  local scores = {}
  for b = n - span + 1, n do
    local got = redis.call('ZRANGE', KEYS[1 + m * n + b], 0, -1, 'WITHSCORES')
    for i = 2, #got, 2 do scores[#scores + 1] = tonumber(got[i]) end
  end
  table.sort(scores, function(x, y) return x > y end)
  local t = scores[r]
  if t and scores[r + 1] == t then
    r = r - 1
    while r >= 1 and scores[r] == t do r = r - 1 end
    t = scores[r]
  end
  local value, aim = '', ''
  if t and seen > 0 then
    value, aim = string.format('%.17g', t), string.format('%.17g', r / seen)
  end
  out[2 * m + 1], out[2 * m + 2] = value, aim
end
return out
"""
