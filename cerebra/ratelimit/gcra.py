"""The Generic Cell Rate Algorithm as one atomic kv script over several limits at once: a limit of
`rate` per minute stores a single number per key, the theoretical arrival time (TAT, microseconds). A
cost of n is allowed when TAT + n*T - burst <= now, where T = 60 s / rate and burst = rate*T: a full
minute's allowance may arrive at once, then it refills smoothly. A call is admitted only when every
limit it falls under admits it, and then charged to all of them (all or nothing). The same code runs as
Lua on Redis (replicas share one limit and one clock, Redis's TIME) and in-process.

Returns [allowed (1/0), retry_after_us, backlog_us of each key...]: the backlog is TAT - now after the
call (the time until that limit is back to full). `force` charges without checking, and a negative cost
gives units back: tokens are known only after the call, and are counted even when they overshoot."""

from __future__ import annotations

import math
from collections.abc import Sequence

from oco.kv import AtomicScript, ScriptStore

MINUTE_US = 60_000_000

LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local force = ARGV[1] == '1'
local tats, news, backlog = {}, {}, {}
local retry = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 + (i - 1) * 3])
  local burst = tonumber(ARGV[3 + (i - 1) * 3])
  local cost = tonumber(ARGV[4 + (i - 1) * 3])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  if new_tat < now then new_tat = now end
  tats[i], news[i] = tat, new_tat
  local wait = new_tat - burst - now
  if wait > retry then retry = wait end
end
local result = {1, 0}
if (not force) and retry > 0 then
  result[1], result[2] = 0, math.ceil(retry)
  for i = 1, #KEYS do result[2 + i] = math.floor(tats[i] - now) end
  return result
end
for i, key in ipairs(KEYS) do
  if news[i] ~= tats[i] then
    redis.call('SET', key, string.format('%.0f', math.ceil(news[i])), 'PX', math.ceil((news[i] - now) / 1000) + 1000)
  end
  result[2 + i] = math.floor(news[i] - now)
end
return result
"""


def _local(store: ScriptStore, keys: Sequence[str], args: Sequence[str]) -> list[int]:
    now = store.now_us()
    force = args[0] == "1"
    tats: list[float] = []
    news: list[float] = []
    retry = 0.0
    for i, key in enumerate(keys):
        interval, burst, cost = float(args[1 + i * 3]), float(args[2 + i * 3]), float(args[3 + i * 3])
        raw = store.get(key)
        tat = max(float(raw) if raw else 0.0, now)
        new_tat = max(tat + cost * interval, now)
        tats.append(tat)
        news.append(new_tat)
        retry = max(retry, new_tat - burst - now)
    if not force and retry > 0:
        return [0, math.ceil(retry), *(math.floor(t - now) for t in tats)]
    for key, tat, new_tat in zip(keys, tats, news, strict=True):
        if new_tat != tat:
            store.set(key, str(math.ceil(new_tat)), math.ceil((new_tat - now) / 1000) + 1000)
    return [1, 0, *(math.floor(n - now) for n in news)]


GCRA = AtomicScript("cerebra.gcra", LUA, _local)


def limit_args(per_minute: int, cost: int) -> list[str | int]:
    """The three ARGV of one key: a limit of `per_minute` units, a call costing `cost` units."""
    interval = MINUTE_US / per_minute
    return [repr(interval), repr(interval * per_minute), cost]


def remaining(per_minute: int, backlog_us: int) -> int:
    """Units still available at once with `backlog_us` of backlog."""
    interval = MINUTE_US / per_minute
    return max(0, math.floor((per_minute * interval - backlog_us) / interval))
