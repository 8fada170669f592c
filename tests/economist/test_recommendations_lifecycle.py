"""A refresh never duplicates, closes what no longer costs anything as implemented and reopens it when it
costs again; PATCH moves status with who and when (a dismissal needs a reason); the list filters, sorts by
saving and totals; invalid input is a 422 naming the field; ingestion triggers a refresh."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from economist.app import create_app
from economist.settings import EconomistSettings
from tests.economist.test_recommendations_support import (
    days,
    economist_client,
    found,
    line,
    money,
    refresh,
    upload,
)

FIRST = date(2037, 6, 1)
AS_OF = date(2037, 6, 11)
EBS = {"service_category": "Storage", "service": "Amazon Elastic Block Store", "type": "Volume"}
VPC = {"service_category": "Networking", "service": "Amazon Virtual Private Cloud", "type": "IP Address"}


def ledger(first: date = FIRST) -> list[dict]:
    """Two volumes and an IP; the same resource ids in several tests' accounts (one row per type + id)."""
    lines = []
    for d in days(first, 10):
        lines.append(
            line(d, "vol-a", "3.00", description="GB-Mo of gp3 provisioned storage", unit="GB-Mo", **EBS)
        )
        lines.append(
            line(d, "vol-b", "1.00", description="GB-Mo of gp2 provisioned storage", unit="GB-Mo", **EBS)
        )
        lines.append(line(d, "eip-a", "0.12", sku="PublicIPv4:IdleAddress", unit="Hrs", **VPC))
    return lines


async def test_refresh_is_idempotent_and_closes_what_no_longer_costs(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("life-acct")
    await upload(client, ledger(), account, unique("life"))

    first = await refresh(client, AS_OF, account)
    before = await found(client, account)
    again = await refresh(client, AS_OF, account)
    after = await found(client, account)

    assert (first["created"], first["updated"], first["closed"]) == (3, 0, 0)
    assert (again["created"], again["updated"], again["closed"]) == (0, 3, 0)
    assert {k: r["id"] for k, r in after.items()} == {k: r["id"] for k, r in before.items()}  # same rows
    assert {k: r["first_seen_at"] for k, r in after.items()} == {
        k: r["first_seen_at"] for k, r in before.items()
    }
    assert all(after[k]["last_seen_at"] > before[k]["last_seen_at"] for k in after)

    # 40 days later the window holds nothing of these resources: implemented, by the refresh
    later = await refresh(client, AS_OF + timedelta(days=40), account)
    closed = await found(client, account)
    assert later["closed"] == 3 and later["created"] == 0
    assert {r["status"] for r in closed.values()} == {"implemented"}
    volume = closed[("unattached_volume", "vol-a")]
    assert volume["status_by"] == "refresh" and volume["status_at"] is not None
    assert volume["status_reason"] == "the resource no longer costs anything in the window"

    # the original window again: the same rows reopen, nothing is created twice
    back = await refresh(client, AS_OF, account)
    reopened = await found(client, account)
    assert (back["created"], back["reopened"]) == (0, 3)
    assert {r["status"] for r in reopened.values()} == {"open"}
    assert {k: r["id"] for k, r in reopened.items()} == {k: r["id"] for k, r in before.items()}


async def test_status_lifecycle_records_who_and_when(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("patch-acct")
    await upload(client, ledger(), account, unique("patch"))
    await refresh(client, AS_OF, account)
    recs = await found(client, account)
    rec_id = recs[("unattached_volume", "vol-a")]["id"]
    path = f"/api/v1/recommendations/{rec_id}"

    no_reason = await client.patch(path, json={"status": "dismissed"})
    assert no_reason.status_code == 422, no_reason.text
    assert no_reason.json()["error"]["param"] == "reason"
    blank = await client.patch(path, json={"status": "dismissed", "reason": "   "})
    assert blank.status_code == 422 and blank.json()["error"]["param"] == "reason"
    unknown = await client.patch(path, json={"status": "done"})
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "status"
    missing = await client.patch("/api/v1/recommendations/999999999", json={"status": "accepted"})
    assert missing.status_code == 404

    accepted = await client.patch(path, json={"status": "accepted"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and "key " in accepted.json()["status_by"]
    dismissed = await client.patch(path, json={"status": "dismissed", "reason": "kept for the DR drill"})
    body = dismissed.json()
    assert (body["status"], body["status_reason"]) == ("dismissed", "kept for the DR drill")
    assert body["status_at"] >= accepted.json()["status_at"]
    refused = await client.patch(path, json={"status": "implemented"})
    assert refused.status_code == 409 and refused.json()["error"]["param"] == "status"

    # a refresh updates the numbers but keeps the dismissal
    await refresh(client, AS_OF, account)
    kept = (await client.get(path)).json()
    assert (kept["status"], kept["status_reason"]) == ("dismissed", "kept for the DR drill")
    # and a refresh that no longer finds it leaves a dismissed one alone
    await refresh(client, AS_OF + timedelta(days=40), account)
    assert (await client.get(path)).json()["status"] == "dismissed"
    reopened = await client.patch(path, json={"status": "open"})
    assert reopened.json()["status"] == "open" and reopened.json()["status_reason"] is None


async def test_list_filters_sorts_by_saving_and_totals(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("list-acct")
    await upload(client, ledger(), account, unique("list"))
    await refresh(client, AS_OF, account)
    rate = Decimal(730) / 240
    savings = {
        "vol-a": Decimal("30.00") * rate,
        "vol-b": Decimal("10.00") * rate,
        "eip-a": Decimal("1.20") * rate,
    }

    listed = (await client.get("/api/v1/recommendations", params={"account": account})).json()
    assert [r["resource_id"] for r in listed["items"]] == ["vol-a", "vol-b", "eip-a"]
    assert listed["total"] == 3 and listed["currency"] == "USD"
    total = sum((Decimal(money(v)) for v in savings.values()), Decimal(0))
    assert listed["total_monthly_saving"] == money(total)
    assert listed["savings_by_currency"] == {"USD": money(total)}

    ascending = (
        await client.get("/api/v1/recommendations", params={"account": account, "sort": "saving"})
    ).json()
    assert [r["resource_id"] for r in ascending["items"]] == ["eip-a", "vol-b", "vol-a"]
    volumes = (
        await client.get("/api/v1/recommendations", params={"account": account, "type": "unattached_volume"})
    ).json()
    assert {r["resource_id"] for r in volumes["items"]} == {"vol-a", "vol-b"}
    big = (
        await client.get("/api/v1/recommendations", params={"account": account, "min_saving": "50"})
    ).json()
    assert [r["resource_id"] for r in big["items"]] == ["vol-a"]
    assert big["total_monthly_saving"] == money(savings["vol-a"])
    paged = (
        await client.get("/api/v1/recommendations", params={"account": account, "limit": 1, "offset": 1})
    ).json()
    assert [r["resource_id"] for r in paged["items"]] == ["vol-b"] and paged["total"] == 3
    other = (
        await client.get("/api/v1/recommendations", params={"account": account, "provider": "Azure"})
    ).json()
    assert other["total"] == 0 and other["total_monthly_saving"] == "0.000000"
    dismissed = (
        await client.get("/api/v1/recommendations", params={"account": account, "status": "dismissed"})
    ).json()
    assert dismissed["total"] == 0

    for params, field in (
        ({"type": "nope"}, "type"),
        ({"status": "nope"}, "status"),
        ({"min_saving": "-1"}, "min_saving"),
        ({"sort": "cost"}, "sort"),
    ):
        bad = await client.get("/api/v1/recommendations", params=params)
        assert bad.status_code == 422 and bad.json()["error"]["param"] == field, bad.text


async def test_utilization_input_errors_name_the_field(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    cases = [
        ({"resource_id": "i-1", "metric": "disk", "p95": "5"}, "metric"),
        ({"resource_id": "i-1", "metric": "cpu"}, "p95"),
        ({"resource_id": "i-1", "metric": "cpu", "p95": "120"}, "p95"),
        ({"resource_id": "i-1", "metric": "cpu", "samples": ["5", "101"]}, "samples.1"),
        ({"resource_id": "", "metric": "cpu", "p95": "5"}, "resource_id"),
        (
            {
                "resource_id": "i-1",
                "metric": "cpu",
                "p95": "5",
                "window_start": "2030-01-02T00:00:00Z",
                "window_end": "2030-01-01T00:00:00Z",
            },
            "window_end",
        ),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/utilization", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == field, response.text
    # a later post replaces the earlier one for the resource and metric
    resource = unique("i-util")
    await client.post("/api/v1/utilization", json={"resource_id": resource, "metric": "cpu", "p95": "5"})
    second = await client.post(
        "/api/v1/utilization", json={"resource_id": resource, "metric": "cpu", "p95": "7.5"}
    )
    assert second.status_code == 201 and second.json()["p95"] == "7.5"


async def test_ingestion_refreshes_the_recommendations(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    # the year 2199: the latest charge day of the shared test ledger, so the default window ends after it
    values = {**settings.model_dump(), "oco_economist_recommendations_after_ingestion": True}
    app = create_app(EconomistSettings(_env_file=None, **values))
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("hook"), ["economist"])).plaintext
    account = unique("hook-acct")
    volume = unique("vol-hook")
    description = "GB-Mo of gp3 provisioned storage"
    lines = [line(d, volume, "2.00", description=description, **EBS) for d in days(date(2199, 1, 1), 10)]
    await upload(client, lines, account, unique("hook"))
    await app.state.recommendations_refresher.wait()  # the refresh runs in the background

    recs = await found(client, account)
    assert recs[("unattached_volume", volume)]["estimated_monthly_saving"] == money(
        Decimal("20.00") * 730 / 240
    )
    assert recs[("unattached_volume", volume)]["status"] == "open"

    # two more ingestions while nothing waits: one refresh runs, one more is queued after it, none is lost
    second = unique("vol-hook")
    more = [line(d, second, "1.00", description=description, **EBS) for d in days(date(2199, 1, 1), 10)]
    await upload(client, more, account, unique("hook"))
    await upload(client, lines, account, unique("hook"))
    await app.state.recommendations_refresher.wait()
    assert ("unattached_volume", second) in await found(client, account)


async def test_metrics_show_open_recommendations_and_savings_by_type(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("metrics-acct")
    await upload(client, ledger(), account, unique("metrics"))
    await refresh(client, AS_OF, account)

    everywhere = (
        await client.get("/api/v1/recommendations", params={"type": "idle_ip", "status": "open"})
    ).json()
    text = (await client.get("/metrics")).text
    assert f'oco_economist_recommendations_open{{type="idle_ip"}} {float(everywhere["total"])}' in text
    saving = float(Decimal(everywhere["savings_by_currency"]["USD"]))
    gauge = 'oco_economist_recommendations_monthly_savings{currency="USD",type="idle_ip"} '
    value = next(row for row in text.splitlines() if row.startswith(gauge)).removeprefix(gauge)
    assert abs(float(value) - saving) < 1e-6
