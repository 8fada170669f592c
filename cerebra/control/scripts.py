"""Two kv scripts as one atomic script: the control plane's steps before a call (rate limits, then budget
reservations) and after it (token correction, budget settlement) each cost one round trip to Redis
instead of two. The chained script runs `first`, then `second` on its own keys and arguments (with
`gated`, only when `first` answered 1 in its first field: a call refused by a rate limit reserves
nothing); each part's Lua and in-process code run unchanged, as they do alone.

KEYS = first's keys + second's keys; ARGV = [len(first's keys), len(first's args), *first's args,
*second's args]. The result is [len(first's result), *first's result, *second's result] (nothing of
second's when it did not run): `split()` gives the two back."""

from __future__ import annotations

from collections.abc import Sequence

from oco.kv import AtomicScript, ScriptStore

_CHAIN_LUA = """
local function first(KEYS, ARGV)
%s
end
local function second(KEYS, ARGV)
%s
end
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local k1, a1, k2, a2 = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= nk then k1[#k1 + 1] = KEYS[i] else k2[#k2 + 1] = KEYS[i] end
end
for i = 3, #ARGV do
  if i <= na + 2 then a1[#a1 + 1] = ARGV[i] else a2[#a2 + 1] = ARGV[i] end
end
local r1 = first(k1, a1)
local out = {#r1}
for i = 1, #r1 do out[#out + 1] = r1[i] end
if %s or r1[1] == 1 then
  local r2 = second(k2, a2)
  for i = 1, #r2 do out[#out + 1] = r2[i] end
end
return out
"""


def chain(first: AtomicScript, second: AtomicScript, *, gated: bool) -> AtomicScript:
    """`first` then `second` in one atomic run (see the module docstring)."""

    def local(store: ScriptStore, keys: Sequence[str], args: Sequence[str]) -> list[int]:
        nk, na = int(args[0]), int(args[1])
        r1 = first.local(store, keys[:nk], args[2 : 2 + na])
        out = [len(r1), *r1]
        if not gated or r1[0] == 1:
            out += second.local(store, keys[nk:], args[2 + na :])
        return out

    lua = _CHAIN_LUA % (first.lua, second.lua, "false" if gated else "true")
    return AtomicScript(f"{first.name}+{second.name}", lua, local)


def chained_args(
    first_keys: Sequence[str], first_args: Sequence[str | int], second_args: Sequence[str | int]
) -> list[str | int]:
    """ARGV of a chained script."""
    return [len(first_keys), len(first_args), *first_args, *second_args]


def split(result: Sequence[int]) -> tuple[list[int], list[int] | None]:
    """(first's result, second's result or None when it did not run) of a chained script's result."""
    n = int(result[0])
    first, second = list(result[1 : 1 + n]), list(result[1 + n :])
    return first, second or None
