"""Every policy type at its boundary values (just under, at, just over), on crafted rows uploaded as FOCUS
and scoped by their own provider name, so other data of the shared database never mixes in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.economist.governance_helpers import create_policy, economist_api, evaluate, upload


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    return (await economist_api(settings, serve_app, keystore, unique))[1]


def flagged(result: dict) -> dict[str, dict]:
    return {f["resource"]: f for f in result["findings"]}


async def test_budget_limit_flags_spend_above_the_amount_only(api, unique) -> None:  # type: ignore[no-untyped-def]
    provider = unique("P")
    rows = [
        {"provider": provider, "account": "under", "cost": "60"},
        {"provider": provider, "account": "under", "cost": "39.999999"},
        {"provider": provider, "account": "at", "cost": "40"},
        {"provider": provider, "account": "at", "cost": "60"},
        {"provider": provider, "account": "over", "cost": "60"},
        {"provider": provider, "account": "over", "cost": "40.000001"},
    ]
    await upload(api, rows, unique("budget") + ".csv")
    outcome = {}
    for account in ("under", "at", "over"):
        policy = await create_policy(
            api,
            name=unique("budget"),
            type="budget_limit",
            scope={"provider": provider, "account": account},
            params={"amount": "100", "currency": "USD", "period": "monthly"},
        )
        outcome[account] = flagged(await evaluate(api, policy["id"]))
    assert outcome["under"] == {} and outcome["at"] == {}
    finding = outcome["over"]["scope"]
    assert finding["cost_at_stake"] == "0.000001" and finding["currency"] == "USD"
    assert finding["evidence"]["spent"] == "100.000001" and finding["evidence"]["amount"] == "100.000000"


async def test_tag_compliance_fails_below_the_minimum_coverage_only(api, unique) -> None:  # type: ignore[no-untyped-def]
    provider = unique("P")
    good = {"team": "search", "env": "prod"}
    rows = []
    for account, compliant in (("under", "79.99"), ("at", "80"), ("over", "80.01")):
        rest = str(100 - float(compliant))  # the non-compliant cost: one row without team, one with a bad env
        half = f"{float(rest) / 2:.3f}"
        other = f"{float(rest) - float(half):.3f}"
        rows += [
            {
                "provider": provider,
                "account": account,
                "cost": compliant,
                "tags": good,
                "resource": f"{account}-ok",
            },
            {
                "provider": provider,
                "account": account,
                "cost": half,
                "tags": {"env": "prod"},
                "resource": f"{account}-a",
            },
            {
                "provider": provider,
                "account": account,
                "cost": other,
                "tags": {"team": "x", "env": "staging"},
            },
        ]
    await upload(api, rows, unique("tags") + ".csv")
    outcome = {}
    for account in ("under", "at", "over"):
        policy = await create_policy(
            api,
            name=unique("tags"),
            type="tag_compliance",
            scope={"provider": provider, "account": account},
            # keys are folded like ingested tags: "Team" is the ledger's "team"
            params={
                "required_tags": ["Team"],
                "allowed_values": {"env": ["prod", "dev"]},
                "min_coverage_percent": 80,
            },
        )
        outcome[account] = flagged(await evaluate(api, policy["id"]))
    assert outcome["at"] == {} and outcome["over"] == {}
    finding = outcome["under"]["scope:USD"]
    assert finding["cost_at_stake"] == "20.010000"
    assert finding["evidence"]["coverage_percent"] == "79.99"
    assert (
        finding["evidence"]["compliant_cost"] == "79.990000"
        and finding["evidence"]["total_cost"] == "100.000000"
    )
    assert finding["evidence"]["non_compliant_by_service"] == [{"service": "AmazonEC2", "cost": "20.010000"}]


async def test_region_restriction_flags_resources_outside_the_regions_above_min_cost(api, unique) -> None:  # type: ignore[no-untyped-def]
    provider = unique("P")
    rows = [
        {"provider": provider, "region": "eu-west-1", "resource": "under", "cost": "9.999999"},
        {"provider": provider, "region": "eu-west-1", "resource": "at", "cost": "10"},
        {"provider": provider, "region": "eu-west-1", "resource": "over", "cost": "6"},
        {"provider": provider, "region": "eu-west-1", "resource": "over", "cost": "4.000001"},
        {"provider": provider, "region": "us-east-1", "resource": "home", "cost": "500"},
    ]
    await upload(api, rows, unique("region") + ".csv")
    policy = await create_policy(
        api,
        name=unique("region"),
        type="region_restriction",
        scope={"provider": provider},
        params={"allowed_regions": ["us-east-1"], "min_cost": "10"},
    )
    found = flagged(await evaluate(api, policy["id"]))
    assert list(found) == ["over"]
    assert (
        found["over"]["cost_at_stake"] == "10.000001" and found["over"]["evidence"]["region"] == "eu-west-1"
    )


@pytest.mark.parametrize("kind", ["service_allowlist", "service_denylist"])
async def test_service_lists_flag_refused_services_above_min_cost(api, unique, kind: str) -> None:  # type: ignore[no-untyped-def]
    provider = unique("P")
    rows = [
        {"provider": provider, "service": "AmazonS3", "cost": "4.999999"},
        {"provider": provider, "service": "AWSLambda", "cost": "5"},
        {"provider": provider, "service": "AmazonRDS", "cost": "2.5"},
        {"provider": provider, "service": "AmazonRDS", "cost": "2.500001"},
        {"provider": provider, "service": "AmazonEC2", "cost": "900"},
    ]
    await upload(api, rows, unique("svc") + ".csv")
    services = ["AmazonEC2"] if kind == "service_allowlist" else ["AmazonS3", "AWSLambda", "AmazonRDS"]
    policy = await create_policy(
        api,
        name=unique("svc"),
        type=kind,
        scope={"provider": provider},
        params={"services": services, "min_cost": "5"},
    )
    found = flagged(await evaluate(api, policy["id"]))
    assert list(found) == ["service:AmazonRDS"]
    assert found["service:AmazonRDS"]["cost_at_stake"] == "5.000001"


async def test_max_resource_cost_flags_resources_above_the_amount_in_its_currency(api, unique) -> None:  # type: ignore[no-untyped-def]
    provider = unique("P")
    rows = [
        {"provider": provider, "resource": "under", "cost": "49.999999"},
        {"provider": provider, "resource": "at", "cost": "50"},
        {"provider": provider, "resource": "over", "cost": "25"},
        {"provider": provider, "resource": "over", "cost": "25.000001"},
        {"provider": provider, "resource": "euro", "cost": "70", "currency": "EUR"},
    ]
    await upload(api, rows, unique("res") + ".csv")
    policy = await create_policy(
        api,
        name=unique("res"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "50", "currency": "USD"},
    )
    found = flagged(await evaluate(api, policy["id"]))
    assert list(found) == ["over"]
    assert found["over"]["cost_at_stake"] == "0.000001" and found["over"]["evidence"]["cost"] == "50.000001"


async def test_the_sqlite_prefilter_keeps_groups_just_above_a_negative_threshold(database) -> None:  # type: ignore[no-untyped-def]
    """The float pre-filter must not drop what the exact comparison keeps, whatever the threshold's sign."""
    import sqlalchemy as sa

    from economist.governance.repository import _over

    if database.dialect != "sqlite":
        pytest.skip("the pre-filter exists on SQLite only")
    async with database.engine.connect() as conn:
        cost = sa.literal("-9.9999999999", sa.Text)
        kept = (await conn.execute(sa.select(_over(cost, Decimal("-10"), "sqlite")))).scalar_one()
    assert kept  # exact: -9.9999999999 > -10
