"""Helpers of the governance and notification tests: a FOCUS file of crafted rows uploaded through the API,
and a loopback webhook receiver (aiohttp on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from aiohttp import web

from economist.app import create_app
from economist.settings import EconomistSettings
from oco.timeutil import utcnow

HEADER = [
    "ProviderName", "BillingAccountId", "SubAccountId", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
    "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ServiceName", "RegionId", "ResourceId",
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "Tags",
]  # fmt: skip
SECRET = "governance-test-secret-" + "s" * 16


def focus_csv(rows: list[dict[str, Any]]) -> bytes:
    """A FOCUS file; each row: provider, cost (str), and optionally day, account, service, region, resource,
    tags, currency."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for r in rows:
        day: date = r.get("day") or utcnow().date()
        first = day.replace(day=1)
        end = (first + timedelta(days=32)).replace(day=1)
        writer.writerow(
            [
                r["provider"], "payer", r.get("account", "acct"), r.get("currency", "USD"),
                f"{first}T00:00:00Z", f"{end}T00:00:00Z", f"{day}T00:00:00Z", f"{day + timedelta(days=1)}T00:00:00Z",
                "Usage", r.get("service", "AmazonEC2"), r.get("region", "us-east-1"), r.get("resource"),
                r["cost"], r["cost"], r["cost"], r["cost"], json.dumps(r.get("tags", {})),
            ]
        )  # fmt: skip
    return out.getvalue().encode()


async def upload(client: httpx.AsyncClient, rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/ingestions/upload", content=focus_csv(rows), params={"filename": name}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def create_policy(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/governance/policies", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def evaluate(client: httpx.AsyncClient, policy_id: int, *, dry_run: bool = False) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/governance/policies/{policy_id}/evaluate", params={"dry_run": str(dry_run).lower()}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def violations(
    client: httpx.AsyncClient, policy_id: int, status: str | None = None
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"policy_id": policy_id, "limit": 1000}
    if status:
        params["status"] = status
    response = await client.get("/api/v1/governance/violations", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def economist_api(
    settings: Any, serve_app: Any, keystore: Any, unique: Any, **extra: Any
) -> tuple[Any, Any]:
    """An economist app (with `extra` settings) and a client with an economist key."""
    values = {"oco_economist_policy_interval_s": 0, **extra}
    app = create_app(EconomistSettings(_env_file=None, **{**settings.model_dump(), **values}))
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("gov"), ["economist"])).plaintext
    return app, client


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers the statuses queued in `answers`, then 200."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.received.append((await request.read(), dict(request.headers)))
        return web.Response(status=state.answers.pop(0) if state.answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield state
    finally:
        await runner.cleanup()


async def wait_for(predicate: Any, what: str) -> Any:
    """Poll an async predicate until it returns something truthy (the webhook worker runs in the background)."""
    for _ in range(600):
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
