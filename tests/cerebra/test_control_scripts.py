"""The control plane's chained kv scripts (rate limits then budget reservations in one atomic run; the
token correction and the budget settlement in one run), on both kv back ends: each part does what it
does alone, and a call a rate limit refuses reserves nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cerebra.budgets.ledger import LOAD, RESERVE, Slot, to_micro
from cerebra.control.admission import ADMIT, SETTLE_AFTER
from cerebra.control.scripts import chained_args, split
from cerebra.ratelimit.gcra import GCRA, limit_args, remaining
from oco.kv import KV, MemoryKV, RedisKV
from tests.conftest import require_or_skip


@pytest.fixture(params=["memory", "redis"])
async def kv(request, redis_url):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        backend: KV = MemoryKV()
    else:
        if not redis_url:
            require_or_skip("OCO_TEST_REDIS_URL")
        backend = RedisKV(redis_url, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    yield backend
    await backend.close()


SLOT = Slot(7, datetime(2026, 1, 1, tzinfo=UTC), Decimal("1.00"))
BUDGET_KEYS = [SLOT.key + ":s", SLOT.key + ":r"]


def reserve_args(amount: str) -> list[str | int]:
    return [to_micro(Decimal(amount)), 60_000, to_micro(SLOT.limit_usd)]


async def test_admit_reserves_only_what_the_rate_limit_admits(kv: KV) -> None:
    await kv.run(LOAD, [BUDGET_KEYS[0]], [0])
    rate_keys, rate_args = ["rl:1:r"], ["0", *limit_args(2, 1)]
    results = [
        split(
            await kv.run(
                ADMIT, rate_keys + BUDGET_KEYS, chained_args(rate_keys, rate_args, reserve_args("0.30"))
            )
        )
        for _ in range(3)
    ]
    assert [first[0] for first, _ in results] == [1, 1, 0]  # 2 requests per minute
    assert [remaining(2, first[2]) for first, _ in results[:2]] == [1, 0]
    assert [second for _, second in results] == [[1], [1], None]  # the refused call reserved nothing
    assert await kv.get(BUDGET_KEYS[1]) == b"600000"  # two reservations of $0.30
    # the budget part refuses as it does alone: $0.60 reserved, $0.50 more does not fit in $1.00
    first, second = split(
        await kv.run(
            ADMIT,
            ["rl:2:r"] + BUDGET_KEYS,
            chained_args(["rl:2:r"], ["0", *limit_args(60, 1)], reserve_args("0.50")),
        )
    )
    assert first[0] == 1 and second == [0, 1, 0, 600_000]
    alone = await kv.run(RESERVE, BUDGET_KEYS, reserve_args("0.50"))
    assert alone == second


async def test_admit_reports_an_unloaded_budget(kv: KV) -> None:
    first, second = split(
        await kv.run(
            ADMIT,
            ["rl:3:r"] + BUDGET_KEYS,
            chained_args(["rl:3:r"], ["0", *limit_args(60, 1)], reserve_args("0.10")),
        )
    )
    assert first[0] == 1 and second == [2, 1]  # the caller loads the slot from the ledger, then retries


async def test_settle_after_corrects_tokens_and_settles_the_budget(kv: KV) -> None:
    await kv.run(LOAD, [BUDGET_KEYS[0]], [250_000])
    await kv.run(RESERVE, BUDGET_KEYS, reserve_args("0.40"))
    token_keys, token_args = ["rl:4:t"], ["1", *limit_args(100, 30)]
    settle_args: list[str | int] = [to_micro(Decimal("0.40")), to_micro(Decimal("0.05"))]
    first, second = split(
        await kv.run(
            SETTLE_AFTER, token_keys + BUDGET_KEYS, chained_args(token_keys, token_args, settle_args)
        )
    )
    assert first[0] == 1 and remaining(100, first[2]) == 70  # 30 tokens counted, forced
    assert second == [300_000]  # $0.25 + $0.05 spent
    assert await kv.get(BUDGET_KEYS[1]) == b"0"  # the reservation released
    again = await kv.run(GCRA, token_keys, ["1", *limit_args(100, 0)])
    assert remaining(100, again[2]) == 70
