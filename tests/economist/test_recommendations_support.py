"""Helpers of the recommendation tests (no tests here): a FOCUS CSV from short line dicts, uploaded through
POST /api/v1/ingestions/upload, and an economist app whose refresh-after-ingestion is off unless asked."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from economist.app import create_app
from economist.settings import EconomistSettings
from oco.money import quantize_money

HEADER = [
    "ProviderName", "BillingAccountId", "SubAccountId", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ServiceCategory",
    "ServiceName", "RegionId", "ResourceId", "ResourceType", "SkuId", "ChargeDescription", "PricingCategory",
    "ConsumedQuantity", "ConsumedUnit", "BilledCost", "EffectiveCost", "CommitmentDiscountId",
    "CommitmentDiscountStatus", "Tags",
]  # fmt: skip


def line(day: date, resource: str | None, cost: str, **fields: Any) -> dict[str, Any]:
    """One daily Usage line of `resource` (fields: service_category, service, type, sku, description,
    pricing, quantity, unit, commitment, commitment_status, tags, provider)."""
    return {"day": day, "resource": resource, "cost": cost, **fields}


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def focus_csv(lines: list[dict[str, Any]], account: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for r in lines:
        day: date = r["day"]
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        writer.writerow(
            [
                r.get("provider", "AWS"), account, r.get("sub_account", account), "USD",
                f"{first}T00:00:00Z", f"{following}T00:00:00Z", f"{day}T00:00:00Z",
                f"{day + timedelta(days=1)}T00:00:00Z", "Usage", r.get("service_category", ""),
                r.get("service", ""), "us-east-1", r["resource"] or "", r.get("type", ""), r.get("sku", ""),
                r.get("description", ""), r.get("pricing", "Standard"), r.get("quantity", ""), r.get("unit", ""),
                r["cost"], r["cost"], r.get("commitment", ""), r.get("commitment_status", ""),
                json.dumps(r.get("tags", {})),
            ]
        )  # fmt: skip
    return out.getvalue().encode()


async def economist_client(
    settings: Any, serve_app: Any, keystore: Any, unique: Any, **overrides: Any
) -> httpx.AsyncClient:
    values = {"oco_economist_recommendations_after_ingestion": False, **overrides}
    app = create_app(EconomistSettings(_env_file=None, **{**settings.model_dump(), **values}))
    client: httpx.AsyncClient = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("recs"), ["economist"])).plaintext
    return client


async def upload(client: httpx.AsyncClient, lines: list[dict[str, Any]], account: str, name: str) -> None:
    response = await client.post(
        "/api/v1/ingestions/upload", content=focus_csv(lines, account), params={"filename": name + ".csv"}
    )
    assert response.status_code == 201, response.text


async def refresh(client: httpx.AsyncClient, as_of: date, account: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/recommendations/refresh", json={"as_of": as_of.isoformat(), "billing_account": account}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def found(
    client: httpx.AsyncClient, account: str, **params: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """The account's recommendations by (type, resource_id)."""
    response = await client.get(
        "/api/v1/recommendations", params={"account": account, "limit": 1000, **params}
    )
    assert response.status_code == 200, response.text
    return {(r["type"], r["resource_id"]): r for r in response.json()["items"]}


def money(value: Decimal) -> str:
    return str(quantize_money(value))
