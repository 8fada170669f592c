"""The violation lifecycle: opened by the evaluation after an ingestion, once; resolved when the condition
clears; a suppression holds until it expires (an injected clock); never two unresolved for one policy and
resource (the open_key's unique index); a dry run writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from economist.governance.tables import policy_violations
from oco.timeutil import utcnow
from tests.economist.governance_helpers import create_policy, economist_api, evaluate, upload, violations


@pytest.fixture
async def app_api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    return await economist_api(settings, serve_app, keystore, unique)


async def test_opens_once_resolves_when_cleared_and_reopens_as_a_new_violation(app_api, unique) -> None:  # type: ignore[no-untyped-def]
    _, api = app_api
    provider = unique("P")
    policy = await create_policy(
        api,
        name=unique("life"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "10"},
    )
    await upload(api, [{"provider": provider, "resource": "vm-1", "cost": "20"}], unique("life") + ".csv")
    opened = await violations(api, policy["id"])  # the ingestion's hook evaluated every enabled policy
    assert [(v["resource"], v["status"], v["cost_at_stake"]) for v in opened] == [
        ("vm-1", "open", "10.000000")
    ]
    assert opened[0]["evidence"]["cost"] == "20.000000" and opened[0]["policy_name"] == policy["name"]

    again = await evaluate(api, policy["id"])
    assert again["opened"] == [] and again["resolved"] == []
    assert [v["id"] for v in await violations(api, policy["id"])] == [opened[0]["id"]]

    raised = await api.patch(f"/api/v1/governance/policies/{policy['id']}", json={"params": {"amount": "20"}})
    assert raised.status_code == 200, raised.text
    cleared = await evaluate(api, policy["id"])  # 20 is not above 20: the condition cleared
    assert cleared["resolved"] == ["vm-1"]
    [resolved] = await violations(api, policy["id"])
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None

    await api.patch(f"/api/v1/governance/policies/{policy['id']}", json={"params": {"amount": "10"}})
    assert (await evaluate(api, policy["id"]))["opened"] == ["vm-1"]
    statuses = sorted((v["id"], v["status"]) for v in await violations(api, policy["id"]))
    assert (
        statuses == [(opened[0]["id"], "resolved"), (statuses[1][0], "open")]
        and statuses[1][0] != opened[0]["id"]
    )


async def test_suppression_holds_until_it_expires_then_the_violation_opens_again(app_api, unique) -> None:  # type: ignore[no-untyped-def]
    app, api = app_api
    provider = unique("P")
    await upload(api, [{"provider": provider, "resource": "db-1", "cost": "30"}], unique("sup") + ".csv")
    policy = await create_policy(
        api,
        name=unique("sup"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "10"},
    )
    await evaluate(api, policy["id"])
    [violation] = await violations(api, policy["id"])
    url = f"/api/v1/governance/violations/{violation['id']}"

    no_reason = await api.patch(
        url, json={"status": "suppressed", "expires_at": (utcnow() + timedelta(hours=1)).isoformat()}
    )
    assert no_reason.status_code == 422 and no_reason.json()["error"]["param"] == "reason"
    past = await api.patch(
        url, json={"status": "suppressed", "reason": "x", "expires_at": "2000-01-01T00:00:00Z"}
    )
    assert past.status_code == 422 and past.json()["error"]["param"] == "expires_at"

    acknowledged = await api.patch(url, json={"status": "acknowledged"})
    assert acknowledged.status_code == 200 and acknowledged.json()["acknowledged_by"]
    expires = utcnow() + timedelta(hours=1)
    suppressed = await api.patch(
        url, json={"status": "suppressed", "reason": "migration", "expires_at": expires.isoformat()}
    )
    assert suppressed.status_code == 200, suppressed.text
    assert (
        suppressed.json()["status"] == "suppressed" and suppressed.json()["suppressed_reason"] == "migration"
    )

    assert (await evaluate(api, policy["id"]))["opened"] == []
    assert (await api.get(url)).json()["status"] == "suppressed"

    app.state.governance.clock = lambda: utcnow() + timedelta(hours=2)  # the suppression has expired
    assert (await evaluate(api, policy["id"]))["opened"] == ["db-1"]
    after = (await api.get(url)).json()
    assert after["status"] == "open" and after["id"] == violation["id"]


async def test_a_dry_run_reports_what_it_would_flag_and_writes_nothing(app_api, unique) -> None:  # type: ignore[no-untyped-def]
    _, api = app_api
    provider = unique("P")
    await upload(api, [{"provider": provider, "resource": "lb-1", "cost": "12"}], unique("dry") + ".csv")
    policy = await create_policy(
        api,
        name=unique("dry"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "10"},
    )
    result = await evaluate(api, policy["id"], dry_run=True)
    assert result["dry_run"] is True and result["opened"] == ["lb-1"]
    assert [(f["resource"], f["cost_at_stake"]) for f in result["findings"]] == [("lb-1", "2.000000")]
    assert await violations(api, policy["id"]) == []
    assert (await api.get(f"/api/v1/governance/policies/{policy['id']}")).json()["last_evaluated_at"] is None


async def test_never_two_unresolved_for_one_policy_and_resource(app_api, database, unique) -> None:  # type: ignore[no-untyped-def]
    _, api = app_api
    provider = unique("P")
    await upload(api, [{"provider": provider, "resource": "ip-1", "cost": "12"}], unique("uq") + ".csv")
    policy = await create_policy(
        api,
        name=unique("uq"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "10"},
    )
    await evaluate(api, policy["id"])
    [violation] = await violations(api, policy["id"])
    row = {k: v for k, v in violation.items() if k in policy_violations.c and k != "id"}
    row.update(
        open_key=f"{policy['id']}:ip-1", first_seen_at=utcnow(), last_seen_at=utcnow(), updated_at=utcnow()
    )
    row["cost_at_stake"] = "2"
    for key in ("resolved_at", "acknowledged_at", "suppressed_until"):
        row[key] = None
    with pytest.raises(IntegrityError):
        async with database.engine.begin() as conn:
            await conn.execute(sa.insert(policy_violations).values(**row))


async def test_the_scheduled_pass_runs_on_one_replica_at_a_time_and_sets_the_open_gauge(
    app_api, unique
) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import REGISTRY

    from economist.governance.scheduler import LOCK, evaluate_once

    app, api = app_api
    provider = unique("P")
    await upload(api, [{"provider": provider, "resource": "vol-1", "cost": "12"}], unique("sched") + ".csv")
    policy = await create_policy(
        api,
        name=unique("sched"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "10"},
    )
    async with app.state.kv.lock(LOCK, ttl_s=30):  # another replica is evaluating
        assert await evaluate_once(app.state.governance, app.state.kv, ttl_s=30) is None
    assert await violations(api, policy["id"]) == []
    summary = await evaluate_once(app.state.governance, app.state.kv, ttl_s=30)
    assert summary is not None and summary["opened"] >= 1
    assert [v["resource"] for v in await violations(api, policy["id"], "open")] == ["vol-1"]
    assert REGISTRY.get_sample_value("oco_economist_violations_open", {"policy": policy["name"]}) == 1


async def test_a_disabled_policy_is_not_evaluated_after_ingestions(app_api, unique) -> None:  # type: ignore[no-untyped-def]
    _, api = app_api
    provider = unique("P")
    policy = await create_policy(
        api,
        name=unique("off"),
        type="max_resource_cost",
        scope={"provider": provider},
        params={"amount": "10"},
        enabled=False,
    )
    await upload(api, [{"provider": provider, "resource": "vm-off", "cost": "99"}], unique("off") + ".csv")
    assert await violations(api, policy["id"]) == []
    await api.patch(f"/api/v1/governance/policies/{policy['id']}", json={"enabled": True})
    # any ingestion evaluates every enabled policy (another provider: this one's rows stay as they are)
    await upload(api, [{"provider": unique("Q"), "resource": "vm-on", "cost": "1"}], unique("on") + ".csv")
    assert [v["resource"] for v in await violations(api, policy["id"])] == ["vm-off"]
