"""GET /api/v1/allocation on a crafted ledger (its own provider; window and filter keep other data out):
each rule's rows computed here by hand, the parts always adding up to the total to the millionth (a
0.000001 pool split three ways, a credit), the shared rule from the request or the setting."""

from __future__ import annotations

import random
import uuid
from datetime import date
from decimal import Decimal

import pytest

from economist.allocation.split import apportion
from economist.app import create_app
from economist.settings import EconomistSettings
from oco.money import quantize_money
from tests.economist.test_costs_queries import focus_csv

DAY = date(2026, 8, 3)


async def client_of(settings, serve_app, keystore, unique, **economist):  # type: ignore[no-untyped-def]
    app = create_app(EconomistSettings(_env_file=None, **{**settings.model_dump(), **economist}))
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("alloc"), ["economist"])).plaintext
    return client


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    return await client_of(settings, serve_app, keystore, unique)


@pytest.fixture
async def ledger(api) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """team a: 2.00 compute; team b: 1.00 compute + 1.00 Support; team c: a 0.50 credit; untagged 0.000001."""
    prov = f"Alloc-{uuid.uuid4().hex[:8]}"
    rows = [
        {"provider": prov, "day": DAY, "service": "Compute", "cost": Decimal("2.00"), "tags": {"team": "a"}},
        {"provider": prov, "day": DAY, "service": "Compute", "cost": Decimal("1.00"), "tags": {"Team": "b"}},
        {"provider": prov, "day": DAY, "service": "Support", "cost": Decimal("1.00"), "tags": {"team": "b"}},
        {"provider": prov, "day": DAY, "service": "Compute", "cost": Decimal("-0.50"), "tags": {"team": "c"}},
        {"provider": prov, "day": DAY, "service": "Compute", "cost": Decimal("0.000001"), "tags": {}},
    ]  # fmt: skip
    name = f"alloc-{uuid.uuid4().hex[:8]}.csv"
    response = await api.post("/api/v1/ingestions/upload", content=focus_csv(rows), params={"filename": name})
    assert response.status_code == 201, response.text
    return {"from": "2026-08-01", "to": "2026-09-01", "by": "tag:team", "filter": f"provider:{prov}"}


def parts(body: dict) -> dict[str, tuple[str, str, str]]:
    return {r["group"]: (r["direct"], r["shared"], r["total"]) for r in body["rows"]}


def assert_adds_up(body: dict) -> None:
    """Each row's total is direct + shared; the rows' totals plus unallocated are the total, exactly."""
    for r in body["rows"]:
        assert Decimal(r["direct"]) + Decimal(r["shared"]) == Decimal(r["total"]), r
    rows_total = sum((Decimal(r["total"]) for r in body["rows"]), Decimal(0))
    assert rows_total + Decimal(body["unallocated"]) == Decimal(body["total"])
    shared = sum((Decimal(r["shared"]) for r in body["rows"]), Decimal(0)) + Decimal(body["unallocated"])
    assert shared == Decimal(body["shared_total"])


async def allocate(api, params: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    response = await api.get("/api/v1/allocation", params=params)
    assert response.status_code == 200, response.text
    assert_adds_up(response.json())
    return response.json()


async def test_untagged_pool_of_a_millionth_split_three_ways(api, ledger) -> None:  # type: ignore[no-untyped-def]
    even = await allocate(api, {**ledger, "shared": "even"})
    # 0.000001 / 3: every part rounds down to 0, the missing millionth goes to the first group by name
    assert parts(even) == {
        "a": ("2.000000", "0.000001", "2.000001"),
        "b": ("2.000000", "0.000000", "2.000000"),  # Support is direct cost without a shared rule
        "c": ("-0.500000", "0.000000", "-0.500000"),
    }
    assert (even["total"], even["unallocated"], even["shared_total"]) == ("3.500001", "0.000000", "0.000001")
    assert [r["group"] for r in even["rows"]] == ["a", "b", "c"]  # largest total first
    assert even["rule"]["shared"] == "even" and even["rule"]["shared_filter"] is None
    assert "tag:team" in even["rule"]["shared_costs"] and even["rule"]["rounding"]
    proportional = await allocate(api, {**ledger, "shared": "proportional"})
    # weights a 2, b 2 (c's credit weighs 0): equal remainders, a comes first by name
    assert parts(proportional)["a"] == ("2.000000", "0.000001", "2.000001")
    assert parts(proportional)["c"] == ("-0.500000", "0.000000", "-0.500000")


async def test_each_rule_with_a_shared_filter(api, ledger) -> None:  # type: ignore[no-untyped-def]
    shared = {**ledger, "shared_filter": "service:Support|Shared Services"}
    none = await allocate(api, {**shared, "shared": "none"})
    assert parts(none) == {
        "a": ("2.000000", "0.000000", "2.000000"),
        "b": ("1.000000", "0.000000", "1.000000"),
        "c": ("-0.500000", "0.000000", "-0.500000"),
    }
    assert (none["unallocated"], none["total"]) == ("1.000001", "3.500001")  # Support 1.00 + untagged
    assert none["rule"]["shared_filter"] == "service:Support|Shared Services"

    even = await allocate(api, {**shared, "shared": "even"})
    # 1.000001 / 3 = 0.333333666...: floors 0.333333 x 3, two millionths missing -> a and b (by name)
    assert parts(even) == {
        "a": ("2.000000", "0.333334", "2.333334"),
        "b": ("1.000000", "0.333334", "1.333334"),
        "c": ("-0.500000", "0.333333", "-0.166667"),
    }

    proportional = await allocate(api, {**shared, "shared": "proportional"})
    # weights a 2, b 1, c 0: a 2.000002/3 = 0.666667333..., b 1.000001/3 = 0.333333666...; floors leave
    # one millionth, b has the larger remainder
    assert parts(proportional) == {
        "a": ("2.000000", "0.666667", "2.666667"),
        "b": ("1.000000", "0.333334", "1.333334"),
        "c": ("-0.500000", "0.000000", "-0.500000"),
    }
    assert proportional["total"] == "3.500001" and proportional["unallocated"] == "0.000000"


async def test_the_shared_rule_from_the_setting_and_errors(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, ledger, api
) -> None:
    configured = await client_of(
        settings, serve_app, keystore, unique, oco_economist_shared_costs="service:Support"
    )
    body = await allocate(configured, {**ledger, "shared": "none"})
    assert body["unallocated"] == "1.000001" and body["rule"]["shared_filter"] == "service:Support"
    overridden = await allocate(configured, {**ledger, "shared": "none", "shared_filter": ""})
    assert overridden["unallocated"] == "0.000001"  # only the untagged row
    by_tag = await allocate(api, {**ledger, "shared": "none", "shared_filter": "tag:team=b"})
    assert parts(by_tag)["b"] == ("0.000000", "0.000000", "0.000000") and by_tag["unallocated"] == "2.000001"

    for params, field in (
        ({"by": "colour"}, "by"),
        ({"shared": "fair"}, "shared"),
        ({"shared_filter": "service"}, "shared_filter"),
        ({"from": "2026-09-01", "to": "2026-08-01"}, "to"),
    ):
        response = await api.get("/api/v1/allocation", params={**ledger, **params})
        assert response.status_code in (400, 422), response.text
        assert response.json()["error"]["param"] == field


async def test_everything_untagged_stays_unallocated(api) -> None:  # type: ignore[no-untyped-def]
    prov = f"Alloc-{uuid.uuid4().hex[:8]}"
    rows = [{"provider": prov, "day": DAY, "service": "Compute", "cost": Decimal("1.234567"), "tags": {}}]
    name = f"alloc-{uuid.uuid4().hex[:8]}.csv"
    assert (
        await api.post("/api/v1/ingestions/upload", content=focus_csv(rows), params={"filename": name})
    ).status_code == 201
    body = await allocate(
        api, {"from": "2026-08-01", "to": "2026-09-01", "by": "tag:team", "filter": f"provider:{prov}"}
    )
    assert body["rows"] == [] and body["unallocated"] == body["total"] == "1.234567"


def test_apportion_always_adds_up_to_the_rounded_total() -> None:
    rng = random.Random(13)
    for _ in range(500):
        exact = [Decimal(rng.randint(-(10**15), 10**15)) / Decimal(10**12) for _ in range(rng.randint(1, 12))]
        rounded = apportion(list(enumerate(exact)))
        assert sum(rounded.values(), Decimal(0)) == quantize_money(sum(exact, Decimal(0)))
        assert all(abs(rounded[i] - value) < Decimal("0.000001") for i, value in enumerate(exact))
        assert all(value == quantize_money(value) for value in rounded.values())
