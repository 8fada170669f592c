"""Economist's webhooks over real HTTP to a loopback receiver: a new violation is POSTed signed with
OCO_NOTIFY_SECRET (verified here), retried after the receiver fails once, both attempts in
GET /api/v1/notifications/deliveries; the Slack format; no secret = a failed delivery with its reason and the
failure metric; each new anomaly after an ingestion is sent once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from oco.notify import verify
from oco.timeutil import utcnow
from tests.economist.governance_helpers import (
    SECRET,
    create_policy,
    economist_api,
    evaluate,
    receiver,
    upload,
    wait_for,
)

FAST = {
    "oco_notify_secret": SECRET,
    "oco_notify_allow_hosts": "127.0.0.1",
    "oco_notify_backoff_s": 0.01,
    "oco_notify_backoff_max_s": 0.05,
}


async def deliveries(api: Any, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/notifications/deliveries", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_a_new_violation_is_delivered_signed_and_retried_after_a_500(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    async with receiver() as hook:
        hook.answers = [500]
        _, api = await economist_api(settings, serve_app, keystore, unique, **FAST)
        provider = unique("P")
        policy = await create_policy(
            api,
            name=unique("hook"),
            type="max_resource_cost",
            scope={"provider": provider},
            params={"amount": "10"},
            webhook_url=hook.url,
        )
        await upload(api, [{"provider": provider, "resource": "vm-9", "cost": "15"}], unique("hook") + ".csv")

        async def succeeded() -> list[dict[str, Any]]:
            return await deliveries(api, url=hook.url, status="succeeded")

        [delivery] = await wait_for(succeeded, "the violation's delivery")
        assert await evaluate(api, policy["id"])  # evaluating again opens nothing: no second delivery
    assert delivery["event"] == "governance.violation.opened"
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in delivery["attempt_log"]] == [
        (1, "failed", 500),
        (2, "succeeded", 200),
    ]
    assert len(hook.received) == 2
    body, headers = hook.received[-1]
    assert verify(SECRET, body, headers["X-OCO-Signature"])
    assert headers["X-OCO-Event"] == "governance.violation.opened" and headers["X-OCO-Delivery"] == str(
        delivery["id"]
    )
    sent = json.loads(body)
    assert sent == delivery["payload"]
    assert sent["policy"]["name"] == policy["name"]
    assert (sent["violation"]["resource"], sent["violation"]["cost_at_stake"]) == ("vm-9", "5.000000")
    assert SECRET not in json.dumps(delivery)


async def test_slack_format_sends_text(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    async with receiver() as hook:
        _, api = await economist_api(settings, serve_app, keystore, unique, **FAST)
        provider = unique("P")
        await upload(
            api, [{"provider": provider, "service": "AmazonLightsail", "cost": "3"}], unique("s") + ".csv"
        )
        policy = await create_policy(
            api,
            name=unique("slack"),
            type="service_denylist",
            scope={"provider": provider},
            params={"services": ["AmazonLightsail"]},
            webhook_url=hook.url,
            webhook_format="slack",
        )
        await evaluate(api, policy["id"])
        await wait_for(lambda: deliveries(api, url=hook.url, status="succeeded"), "the slack delivery")
    [payload] = [json.loads(body) for body, _ in hook.received]
    assert (
        list(payload) == ["text"]
        and policy["name"] in payload["text"]
        and "AmazonLightsail" in payload["text"]
    )


async def test_without_a_secret_the_delivery_fails_with_its_reason_and_is_counted(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    failures = "oco_economist_notification_failures_total"
    before = REGISTRY.get_sample_value(failures, {"event": "governance.violation.opened"}) or 0
    async with receiver() as hook:
        _, api = await economist_api(
            settings, serve_app, keystore, unique, oco_notify_allow_hosts="127.0.0.1"
        )
        provider = unique("P")
        await upload(api, [{"provider": provider, "resource": "r", "cost": "11"}], unique("ns") + ".csv")
        policy = await create_policy(
            api,
            name=unique("ns"),
            type="max_resource_cost",
            scope={"provider": provider},
            params={"amount": "10"},
            webhook_url=hook.url,
        )
        await evaluate(api, policy["id"])
        [delivery] = await deliveries(api, url=hook.url)
    assert delivery["status"] == "failed" and "OCO_NOTIFY_SECRET" in delivery["last_error"]
    assert hook.received == []
    assert REGISTRY.get_sample_value(failures, {"event": "governance.violation.opened"}) == before + 1


async def test_each_new_anomaly_is_sent_once_after_ingestions(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    async with receiver() as hook:
        _, api = await economist_api(
            settings,
            serve_app,
            keystore,
            unique,
            **FAST,
            oco_economist_anomaly_webhook_url=hook.url,
            oco_economist_anomaly_notify_severity="high",
        )
        provider, account = unique("P"), unique("acct")
        today = utcnow().date()
        noise = ["100", "101", "99", "100", "102", "98", "100"]
        rows = [
            {"provider": provider, "account": account, "day": today - timedelta(days=d), "cost": noise[d % 7]}
            for d in range(1, 70)
        ]
        rows.append({"provider": provider, "account": account, "day": today, "cost": "1000"})
        await upload(api, rows, unique("anomaly") + ".csv")

        async def mine() -> list[dict[str, Any]]:
            found = await deliveries(api, event="anomaly.detected", status="succeeded")
            return [d for d in found if d["payload"]["anomaly"]["account"] == account]

        [delivery] = await wait_for(mine, "the anomaly's delivery")
        other = [{"provider": unique("Q"), "account": unique("other"), "day": today, "cost": "1"}]
        await upload(api, other, unique("later") + ".csv")  # the anomaly is found again: not sent again
        assert [d["id"] for d in await mine()] == [delivery["id"]]
    anomaly = delivery["payload"]["anomaly"]
    assert (anomaly["date"], anomaly["actual"], anomaly["severity"]) == (
        today.isoformat(),
        "1000.000000",
        "high",
    )
    sent = [json.loads(body) for body, _ in hook.received]
    assert sum(1 for s in sent if s.get("anomaly", {}).get("account") == account) == 1


async def test_deliveries_list_filters_and_pages(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    app, api = await economist_api(settings, serve_app, keystore, unique)
    url = f"https://hooks.example.com/{unique('x')}"
    ids = [await app.state.notifier.send(url, "budget.threshold", {"n": n}) for n in range(3)]
    page = (await api.get("/api/v1/notifications/deliveries", params={"url": url, "limit": 2})).json()
    assert page["total"] == 3 and [d["id"] for d in page["items"]] == ids[::-1][:2]
    assert (await api.get("/api/v1/notifications/deliveries", params={"status": "bogus"})).status_code == 422


async def test_budget_threshold_crossings_are_sent_once_each(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import dataclass
    from datetime import date
    from decimal import Decimal

    from economist.notifications.service import send_threshold_crossings

    @dataclass
    class Crossed:  # the shape budgets' evaluate_thresholds returns
        budget_id: int
        name: str
        percent: int
        on: str
        spent: Decimal
        forecast: Decimal | None
        amount: Decimal
        currency: str
        period_start: date
        period_end: date
        webhook_url: str | None

    async with receiver() as hook:
        app, api = await economist_api(settings, serve_app, keystore, unique, **FAST)
        crossed = Crossed(7, unique("team"), 80, "actual", Decimal("812.5"), None, Decimal("1000"), "USD",
                          date(2026, 12, 1), date(2027, 1, 1), hook.url)  # fmt: skip
        first = await send_threshold_crossings(
            app.state.notifier, [crossed, Crossed(**{**crossed.__dict__, "webhook_url": None})]
        )
        again = await send_threshold_crossings(app.state.notifier, [crossed])
        assert len(first) == 1 and first == again
        await wait_for(lambda: deliveries(api, url=hook.url, status="succeeded"), "the budget delivery")
    [(body, headers)] = hook.received
    assert verify(SECRET, body, headers["X-OCO-Signature"])
    budget = json.loads(body)["budget"]
    assert (budget["spent"], budget["amount"], budget["percent"], budget["period_start"]) == (
        "812.500000", "1000.000000", 80, "2026-12-01"
    )  # fmt: skip
