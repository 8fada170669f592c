"""GET /api/v1/costs and its summary/breakdown/trend views on a crafted ledger (its own provider name, so
other data in a shared database never mixes in), checked against sums computed here."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.settings import EconomistSettings
from oco.money import quantize_money

HEADER = [
    "ProviderName", "BillingAccountId", "SubAccountId", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
    "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ServiceName", "RegionId", "ResourceId",
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "Tags",
]  # fmt: skip


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def focus_csv(rows: list[dict]) -> bytes:
    """A FOCUS file from short row dicts (day, service, region, account, resource, cost, tags, currency)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for r in rows:
        start, end = month_bounds(r["day"])
        cost = r["cost"]
        writer.writerow(
            [
                r["provider"], "payer-1", r.get("account", "acct-1"), r.get("currency", "USD"),
                f"{start}T00:00:00Z", f"{end}T00:00:00Z", f"{r['day']}T00:00:00Z",
                f"{r['day'] + timedelta(days=1)}T00:00:00Z", r.get("category", "Usage"), r["service"],
                r.get("region", "us-east-1"), r.get("resource"), cost, cost * Decimal("0.9"), cost * 2, cost,
                json.dumps(r.get("tags", {})),
            ]
        )  # fmt: skip
    return out.getvalue().encode()


def money(value: Decimal) -> str:
    return str(quantize_money(value))


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


@pytest.fixture
async def ledger(api):  # type: ignore[no-untyped-def]
    """45 days of crafted costs for a provider of its own, uploaded through the API."""
    provider = f"Prov-{uuid.uuid4().hex[:8]}"
    rows = []
    first = date(2026, 2, 20)
    tag_sets = [{"Cost-Center": "alpha", "env": "prod"}, {"cost_center": "beta", "Env": "dev"}, {}]
    for i in range(45):
        day = first + timedelta(days=i)
        for j, (service, region, account) in enumerate(
            [
                ("Compute", "us-east-1", "acct-1"),
                ("Compute", "eu-west-1", "acct-2"),
                ("Storage", "us-east-1", "acct-1"),
            ]
        ):
            cost = Decimal(10 + (i * 7 + j * 3) % 17) + Decimal("0.123456789")
            rows.append(
                {
                    "provider": provider, "day": day, "service": service, "region": region, "account": account,
                    "resource": f"res-{j}-{i % 4}", "cost": cost, "tags": tag_sets[(i + j) % 3],
                    "category": "Tax" if (i, j) == (3, 2) else "Usage",
                }
            )  # fmt: skip
    response = await api.post(
        "/api/v1/ingestions/upload", content=focus_csv(rows), params={"filename": "crafted.csv"}
    )
    assert response.status_code == 201, response.text
    return provider, rows


async def get(api, path: str = "/api/v1/costs", **params) -> dict:  # type: ignore[no-untyped-def]
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def expected_by(rows, key, start: date, end: date, value=lambda r: r["cost"]) -> dict:  # type: ignore[no-untyped-def]
    sums: dict = defaultdict(Decimal)
    for r in rows:
        if start <= r["day"] < end:
            sums[key(r)] += value(r)
    return {k: money(v) for k, v in sums.items()}


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def test_group_by_and_granularities(api, ledger) -> None:  # type: ignore[no-untyped-def]
    provider, rows = ledger
    start, end = date(2026, 2, 20), date(2026, 4, 6)
    window = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "filter": f"provider:{provider}",
        "limit": 1000,
    }

    body = await get(api, **window)
    assert set(body) == {"currency", "metric", "total", "rows", "limit", "offset", "total_rows"}
    assert body["currency"] == "USD" and body["metric"] == "billed"
    assert body["total"] == money(sum(r["cost"] for r in rows))
    assert body["rows"] == [{"cost": body["total"]}]

    daily = await get(api, granularity="day", group_by="service", **window)
    assert {(r["period"], r["service"]): r["cost"] for r in daily["rows"]} == expected_by(
        rows, lambda r: (r["day"].isoformat(), r["service"]), start, end
    )
    assert list(daily["rows"][0]) == ["period", "service", "cost"]
    assert [r["period"] for r in daily["rows"]] == sorted(r["period"] for r in daily["rows"])

    weekly = await get(api, granularity="week", group_by="service", **window)
    assert {(r["period"], r["service"]): r["cost"] for r in weekly["rows"]} == expected_by(
        rows, lambda r: (monday(r["day"]).isoformat(), r["service"]), start, end
    )
    monthly = await get(api, granularity="month", group_by="region,account", metric="effective", **window)
    assert {(r["period"], r["region"], r["account"]): r["cost"] for r in monthly["rows"]} == expected_by(
        rows,
        lambda r: (r["day"].replace(day=1).isoformat(), r["region"], r["account"]),
        start,
        end,
        value=lambda r: r["cost"] * Decimal("0.9"),
    )
    assert monthly["metric"] == "effective"
    by_category = await get(api, group_by="charge_category", metric="list", **window)
    assert {r["charge_category"]: r["cost"] for r in by_category["rows"]} == expected_by(
        rows, lambda r: r["category"], start, end, value=lambda r: r["cost"] * 2
    )


async def test_tags_filters_and_paging(api, ledger) -> None:  # type: ignore[no-untyped-def]
    provider, rows = ledger
    start, end = date(2026, 3, 1), date(2026, 3, 15)
    window = {"from": start.isoformat(), "to": end.isoformat()}

    def folded(tags: dict) -> dict:
        return {k.lower().replace("-", "_"): v for k, v in tags.items()}

    tagged = await get(api, group_by="tag:Cost-Center", filter=f"provider:{provider}", **window)
    assert {r["tag:Cost-Center"]: r["cost"] for r in tagged["rows"]} == expected_by(
        rows, lambda r: folded(r["tags"]).get("cost_center"), start, end
    )

    filtered = await get(
        api, group_by="service", filter=f"provider:{provider},tag:env=prod|staging,region:us-east-1", **window
    )
    assert {r["service"]: r["cost"] for r in filtered["rows"]} == expected_by(
        [r for r in rows if folded(r["tags"]).get("env") == "prod" and r["region"] == "us-east-1"],
        lambda r: r["service"],
        start,
        end,
    )

    everything = expected_by(rows, lambda r: r["resource"], start, end)
    ranked = sorted(everything.items(), key=lambda kv: (-Decimal(kv[1]), kv[0]))
    page = await get(api, group_by="resource", filter=f"provider:{provider}", limit=3, offset=2, **window)
    assert page["total_rows"] == len(everything) and page["limit"] == 3 and page["offset"] == 2
    assert page["total"] == money(sum(r["cost"] for r in rows if start <= r["day"] < end))
    assert [(r["resource"], r["cost"]) for r in page["rows"]] == ranked[2:5]

    services = await get(
        api, group_by="service", filter=f"provider:{provider},service:Storage|Nothing", **window
    )
    assert [r["service"] for r in services["rows"]] == ["Storage"]


async def test_summary_breakdown_and_trend(api, ledger) -> None:  # type: ignore[no-untyped-def]
    provider, rows = ledger
    start, end = date(2026, 3, 15), date(2026, 3, 29)  # previous window: 1-14 March
    scope = {"filter": f"provider:{provider}"}

    summary = await get(
        api, "/api/v1/costs/summary", **{"from": start.isoformat(), "to": end.isoformat()}, **scope
    )
    total = sum(r["cost"] for r in rows if start <= r["day"] < end)
    previous = sum(r["cost"] for r in rows if start - timedelta(days=14) <= r["day"] < start)
    assert summary["total"] == money(total) and summary["previous_total"] == money(previous)
    assert summary["change"] == money(total - previous)
    assert summary["change_percent"] == str(((total - previous) / previous * 100).quantize(Decimal("0.01")))
    assert summary["by_provider"] == [{"provider": provider, "cost": money(total)}]
    services = expected_by(rows, lambda r: r["service"], start, end)
    assert {r["service"]: r["cost"] for r in summary["top_services"]} == services
    assert summary["from"] == start.isoformat() and summary["previous_from"] == "2026-03-01"

    breakdown = await get(
        api,
        "/api/v1/costs/breakdown",
        dimension="service",
        **{"from": start.isoformat(), "to": end.isoformat()},
        **scope,
    )
    assert breakdown["dimension"] == "service"
    assert [r["service"] for r in breakdown["rows"]] == ["Compute", "Storage"]
    compute = Decimal(services["Compute"])
    assert breakdown["rows"][0]["share"] == str(
        (
            sum(r["cost"] for r in rows if start <= r["day"] < end and r["service"] == "Compute") / total
        ).quantize(Decimal("0.0001"))
    )
    assert compute > Decimal(services["Storage"])

    trend = await get(api, "/api/v1/costs/trend", period_days=7, to="2026-04-10", **scope)
    days = [date(2026, 4, 3) + timedelta(days=i) for i in range(7)]
    daily = expected_by(rows, lambda r: r["day"].isoformat(), days[0], days[-1] + timedelta(days=1))
    assert [r["period"] for r in trend["rows"]] == [d.isoformat() for d in days]
    assert [r["cost"] for r in trend["rows"]] == [daily.get(d.isoformat(), "0.000000") for d in days]
    assert trend["from"] == "2026-04-03" and trend["to"] == "2026-04-10"


async def test_bad_parameters_are_400(api) -> None:  # type: ignore[no-untyped-def]
    for params in (
        {"group_by": "colour"},
        {"group_by": "service,service"},
        {"filter": "service"},
        {"filter": "tag:env"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"currency": "US1"},
    ):
        response = await api.get("/api/v1/costs", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] in {"group_by", "filter", "to", "currency"}
    assert (await api.get("/api/v1/costs", params={"metric": "amortized"})).status_code == 422
    assert (await api.get("/api/v1/costs/breakdown")).status_code == 422


async def test_breakdown_rows_carry_their_share_of_the_total(api, ledger, database) -> None:  # type: ignore[no-untyped-def]
    """The service computes each breakdown row's share (4 places), None when the total is zero."""
    from economist.costs.params import CostQuery, Dimension, Filter
    from economist.costs.service import CostService, share_of

    provider, rows = ledger
    start, end = date(2026, 3, 15), date(2026, 3, 29)
    query = CostQuery(start=start, end=end, filters=(Filter(Dimension("provider"), (provider,)),))
    result, _ = await CostService(database).breakdown(query, Dimension("service"))
    total = sum(r["cost"] for r in rows if start <= r["day"] < end)
    by_service = {
        name: sum(r["cost"] for r in rows if start <= r["day"] < end and r["service"] == name)
        for name in ("Compute", "Storage")
    }
    assert [(r["service"], r["share"]) for r in result.rows] == [
        (name, (cost / total).quantize(Decimal("0.0001"))) for name, cost in by_service.items()
    ]
    assert share_of(Decimal("1"), Decimal(0)) is None
    assert share_of(Decimal("-1"), Decimal("3")) == Decimal("-0.3333")
