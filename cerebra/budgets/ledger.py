"""Where budget reservations and spend live, with one atomic reserve and settle on each back end:

- `KvLedger`: one Lua script on Redis (every replica shares it), the same code in-process without
  Redis (MemoryKV: one process, atomic because nothing runs between its reads and writes). Spend that
  settled is also added to the database's ledger of record (`cerebra_budget_spend`) by a flusher every
  second; when the kv lost a budget's numbers (restart, flush) they are rebuilt from that ledger.
- `SqlLedger`: PostgreSQL without Redis: a row lock (SELECT ... FOR UPDATE) on the ledger row.

Amounts cross the kv as integer micro-dollars (exact for any budget below $9e9)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cerebra.control.tables import cerebra_budget_spend
from oco.db import Database
from oco.kv import KV, AtomicScript, ScriptStore
from oco.timeutil import utcnow

log = logging.getLogger("cerebra.budgets")
MICRO = Decimal(1_000_000)
RESERVATION_TTL_MS = 600_000  # a reserved amount left by a killed process fades after 10 quiet minutes


def to_micro(amount: Decimal) -> int:
    return int((amount * MICRO).to_integral_value(rounding="ROUND_CEILING"))


def from_micro(value: int) -> Decimal:
    return Decimal(value) / MICRO


@dataclass(frozen=True, slots=True)
class Slot:
    """One budget in one period: the unit reservations and spend are counted in."""

    budget_id: int
    period_start: datetime
    limit_usd: Decimal

    @property
    def key(self) -> str:
        return f"bg:{self.budget_id}:{int(self.period_start.timestamp())}"


@dataclass(frozen=True, slots=True)
class Reserved:
    """A call's reservation: the same amount in each slot."""

    slots: tuple[Slot, ...]
    amount: Decimal


class BudgetExceeded(Exception):
    """A reservation did not fit in `slot`."""

    def __init__(self, slot: Slot, spent: Decimal, reserved: Decimal) -> None:
        super().__init__(slot.budget_id)
        self.slot, self.spent, self.reserved = slot, spent, reserved


# KEYS: per slot <key>:s (spent), <key>:r (reserved). ARGV: amount, ttl_ms, then each slot's limit.
# Returns [1] reserved; [0, i, spent, reserved] slot i (1-based) would overflow; [2, i] slot i unloaded.
RESERVE_LUA = """
local amount = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local spent = redis.call('GET', KEYS[2 * i - 1])
  if not spent then return {2, i} end
  local reserved = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if tonumber(spent) + reserved + amount > tonumber(ARGV[2 + i]) then
    return {0, i, tonumber(spent), reserved}
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[2 * i], ARGV[1])
  redis.call('PEXPIRE', KEYS[2 * i], ARGV[2])
end
return {1}
"""


def _reserve_local(store: ScriptStore, keys: Sequence[str], args: Sequence[str]) -> list[int]:
    amount, ttl = int(args[0]), int(args[1])
    n = len(keys) // 2
    for i in range(n):
        spent = store.get(keys[2 * i])
        if spent is None:
            return [2, i + 1]
        reserved = int(store.get(keys[2 * i + 1]) or 0)
        if int(spent) + reserved + amount > int(args[2 + i]):
            return [0, i + 1, int(spent), reserved]
    for i in range(n):
        store.set(keys[2 * i + 1], str(int(store.get(keys[2 * i + 1]) or 0) + amount), ttl)
    return [1]


# KEYS as above. ARGV: reserved amount to release, actual cost to add. Returns each slot's new spent.
SETTLE_LUA = """
local out = {}
for i = 1, #KEYS / 2 do
  local reserved = tonumber(redis.call('GET', KEYS[2 * i]) or '0') - tonumber(ARGV[1])
  if reserved < 0 then reserved = 0 end
  redis.call('SET', KEYS[2 * i], string.format('%.0f', reserved), 'KEEPTTL')
  out[i] = redis.call('INCRBY', KEYS[2 * i - 1], ARGV[2])
end
return out
"""


def _settle_local(store: ScriptStore, keys: Sequence[str], args: Sequence[str]) -> list[int]:
    release, cost = int(args[0]), int(args[1])
    out = []
    for i in range(len(keys) // 2):
        reserved = max(0, int(store.get(keys[2 * i + 1]) or 0) - release)
        store.set(keys[2 * i + 1], str(reserved), RESERVATION_TTL_MS)
        spent = int(store.get(keys[2 * i]) or 0) + cost
        store.set(keys[2 * i], str(spent))
        out.append(spent)
    return out


# KEYS[1] spent key; ARGV[1] value from the ledger of record. Sets it only when missing.
LOAD_LUA = "redis.call('SET', KEYS[1], ARGV[1], 'NX') return {tonumber(redis.call('GET', KEYS[1]))}"


def _load_local(store: ScriptStore, keys: Sequence[str], args: Sequence[str]) -> list[int]:
    if store.get(keys[0]) is None:
        store.set(keys[0], args[0])
    return [int(store.get(keys[0]) or 0)]


RESERVE = AtomicScript("cerebra.budget.reserve", RESERVE_LUA, _reserve_local)
SETTLE = AtomicScript("cerebra.budget.settle", SETTLE_LUA, _settle_local)
LOAD = AtomicScript("cerebra.budget.load", LOAD_LUA, _load_local)


def _keys(slots: Sequence[Slot]) -> list[str]:
    return [k for slot in slots for k in (slot.key + ":s", slot.key + ":r")]


async def recorded_spend(database: Database, slot: Slot) -> Decimal:
    """The ledger of record's settled spend of a slot."""
    async with database.sessions() as session:
        value = (
            await session.execute(
                sa.select(cerebra_budget_spend.c.spent_usd).where(
                    cerebra_budget_spend.c.budget_id == slot.budget_id,
                    cerebra_budget_spend.c.period_start == slot.period_start,
                )
            )
        ).scalar_one_or_none()
    return Decimal(str(value)) if value is not None else Decimal(0)


def _upsert(dialect: str, values: dict, increment: dict):
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(cerebra_budget_spend).values(**values)
    return statement.on_conflict_do_update(
        index_elements=["budget_id", "period_start"],
        set_={name: getattr(cerebra_budget_spend.c, name) + value for name, value in increment.items()}
        | {"updated_at": values["updated_at"]},
    )


class KvLedger:
    """Reservations on the kv; settled spend on the kv and, flushed every second, in the database."""

    def __init__(self, kv: KV, database: Database, flush_interval_s: float = 1.0) -> None:
        self.kv = kv
        self.database = database
        self.flush_interval_s = flush_interval_s
        self._pending: dict[tuple[int, datetime], Decimal] = defaultdict(Decimal)

    async def reserve(self, slots: Sequence[Slot], amount: Decimal) -> Reserved:
        keys, args = self.reserve_call(slots, amount)
        for _ in range(len(slots) + 1):
            reserved = await self.reserved(slots, amount, await self.kv.run(RESERVE, keys, args))
            if reserved is not None:
                return reserved
        raise RuntimeError("budget ledger could not be loaded")

    @staticmethod
    def reserve_call(slots: Sequence[Slot], amount: Decimal) -> tuple[list[str], list[str | int]]:
        """The RESERVE run's (keys, args)."""
        args: list[str | int] = [
            to_micro(amount),
            RESERVATION_TTL_MS,
            *(to_micro(s.limit_usd) for s in slots),
        ]
        return _keys(slots), args

    async def reserved(self, slots: Sequence[Slot], amount: Decimal, result: list[int]) -> Reserved | None:
        """A RESERVE run's result: the reservation, BudgetExceeded, or None after loading the slot the kv
        did not have (run it again)."""
        if result[0] == 1:
            return Reserved(tuple(slots), amount)
        if result[0] == 0:
            raise BudgetExceeded(slots[result[1] - 1], from_micro(result[2]), from_micro(result[3]))
        await self._load(slots[result[1] - 1])
        return None

    async def _load(self, slot: Slot) -> None:
        spent = await recorded_spend(self.database, slot) + self._pending.get(
            (slot.budget_id, slot.period_start), 0
        )
        await self.kv.run(LOAD, [slot.key + ":s"], [to_micro(spent)])

    async def settle(self, reserved: Reserved, cost: Decimal) -> list[Decimal]:
        """Release the reservation, add the real cost; each slot's spend after it."""
        self.owe(reserved, cost)
        return self.settled(reserved, cost, await self.kv.run(SETTLE, *self.settle_call(reserved, cost)))

    def owe(self, reserved: Reserved, cost: Decimal) -> None:
        """The spend is owed to the ledger of record: counted before the kv run, so a kv that fails (or a
        Redis that is away) never loses it from the database."""
        if cost:
            for slot in reserved.slots:
                self._pending[slot.budget_id, slot.period_start] += cost

    @staticmethod
    def settle_call(reserved: Reserved, cost: Decimal) -> tuple[list[str], list[str | int]]:
        """The SETTLE run's (keys, args)."""
        return _keys(reserved.slots), [to_micro(reserved.amount), to_micro(cost)]

    def settled(self, reserved: Reserved, cost: Decimal, spent: list[int]) -> list[Decimal]:
        """A SETTLE run's result (after owe()): each slot's spend."""
        return [from_micro(v) for v in spent]

    async def state(self, slot: Slot) -> tuple[Decimal, Decimal]:
        """(spent, reserved) now."""
        spent = await self.kv.get(slot.key + ":s")
        if spent is None:
            await self._load(slot)
            spent = await self.kv.get(slot.key + ":s")
        reserved = await self.kv.get(slot.key + ":r")
        return from_micro(int(spent or 0)), from_micro(int(reserved or 0))

    async def flush(self) -> int:
        """Add the spend settled since the last flush to the ledger of record."""
        pending, self._pending = self._pending, defaultdict(Decimal)
        if not pending:
            return 0
        try:
            async with self.database.session() as session:
                now = utcnow()
                for (budget_id, start), amount in pending.items():
                    values = {
                        "budget_id": budget_id,
                        "period_start": start,
                        "spent_usd": amount,
                        "reserved_usd": Decimal(0),
                        "updated_at": now,
                    }
                    await session.execute(_upsert(self.database.dialect, values, {"spent_usd": amount}))
        except Exception:
            for key, amount in pending.items():  # keep them for the next try
                self._pending[key] += amount
            raise
        return len(pending)

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the database may be down: retried next round
                log.warning("could not record budget spend: %s", type(exc).__name__)


class SqlLedger:
    """PostgreSQL without Redis: reservations and spend on the ledger rows, under a row lock."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _locked_rows(self, session, slots: Sequence[Slot]) -> list[dict]:
        now = utcnow()
        for slot in sorted(slots, key=lambda s: (s.budget_id, s.period_start)):  # one lock order: no deadlock
            values = {
                "budget_id": slot.budget_id,
                "period_start": slot.period_start,
                "spent_usd": Decimal(0),
                "reserved_usd": Decimal(0),
                "updated_at": now,
            }
            await session.execute(pg_insert(cerebra_budget_spend).values(**values).on_conflict_do_nothing())
        rows = []
        for slot in slots:
            row = (
                (
                    await session.execute(
                        sa.select(cerebra_budget_spend)
                        .where(
                            cerebra_budget_spend.c.budget_id == slot.budget_id,
                            cerebra_budget_spend.c.period_start == slot.period_start,
                        )
                        .with_for_update()
                    )
                )
                .mappings()
                .one()
            )
            rows.append(dict(row))
        return rows

    async def reserve(self, slots: Sequence[Slot], amount: Decimal) -> Reserved:
        async with self.database.session() as session:
            rows = await self._locked_rows(session, slots)
            for slot, row in zip(slots, rows, strict=True):
                spent, reserved = Decimal(str(row["spent_usd"])), Decimal(str(row["reserved_usd"]))
                if spent + reserved + amount > slot.limit_usd:
                    raise BudgetExceeded(slot, spent, reserved)
            for slot in slots:
                await session.execute(self._change(slot, reserved=amount))
        return Reserved(tuple(slots), amount)

    def _change(self, slot: Slot, *, reserved: Decimal = Decimal(0), spent: Decimal = Decimal(0)):
        table = cerebra_budget_spend
        return (
            table.update()
            .where(table.c.budget_id == slot.budget_id, table.c.period_start == slot.period_start)
            .values(
                reserved_usd=sa.func.greatest(table.c.reserved_usd + reserved, 0),
                spent_usd=table.c.spent_usd + spent,
                updated_at=utcnow(),
            )
            .returning(table.c.spent_usd)
        )

    async def settle(self, reserved: Reserved, cost: Decimal) -> list[Decimal]:
        out = []
        async with self.database.session() as session:
            for slot in sorted(reserved.slots, key=lambda s: (s.budget_id, s.period_start)):
                spent = (
                    await session.execute(self._change(slot, reserved=-reserved.amount, spent=cost))
                ).scalar_one()
                out.append((slot, Decimal(str(spent))))
        order = {s: v for s, v in out}
        return [order[s] for s in reserved.slots]

    async def state(self, slot: Slot) -> tuple[Decimal, Decimal]:
        async with self.database.sessions() as session:
            row = (
                await session.execute(
                    sa.select(cerebra_budget_spend.c.spent_usd, cerebra_budget_spend.c.reserved_usd).where(
                        cerebra_budget_spend.c.budget_id == slot.budget_id,
                        cerebra_budget_spend.c.period_start == slot.period_start,
                    )
                )
            ).first()
        if row is None:
            return Decimal(0), Decimal(0)
        return Decimal(str(row[0])), Decimal(str(row[1]))

    async def flush(self) -> int:
        return 0

    async def run_flusher(self) -> None:
        return None


Ledger = KvLedger | SqlLedger
