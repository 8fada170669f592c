"""Hardening (issue #16, finding 2): on every service the API key is checked before any body byte is read
(a caller without a key costs no memory: a 50 MB body is refused after 0 bytes), malformed JSON without a
key is a 401, and every body is capped: OCO_MAX_BODY_BYTES for the API, per-route limits for uploads, and
cerebra's /v1 its own OCO_CEREBRA_MAX_BODY_BYTES; over the cap is a 413 `too_large` in the one error shape, whether
the size was declared or only streamed."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.economist.test_costs_queries import focus_csv

FIFTY_MB = 50 * 1024 * 1024
CHUNK = b"x" * 65536


class CountingBody:
    """A streamed request body that counts what the server pulled from it."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        self.size, self.head, self.pulled = size, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.pulled += len(self.head)
            yield self.head
        while self.pulled < self.size:
            self.pulled += len(CHUNK)
            yield CHUNK


def _shape(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return error


POSTS = {
    "economist": "/api/v1/budgets",
    "aegis": "/api/v1/storage-locations",
    "cerebra": "/api/v1/whoami",  # cerebra's /api has no body route: the guard answers before routing
}


@pytest.mark.parametrize("service", sorted(POSTS))
async def test_no_key_means_no_body_is_read(service, settings, serve_app) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    path = POSTS[service]
    for headers in ({}, {"X-API-Key": "oco_not-a-real-key-at-all-0123456789abcdef"}):
        body = CountingBody(FIFTY_MB, b'{"name": ')
        response = await client.post(
            path, content=body, headers={"content-type": "application/json", **headers}
        )
        assert _shape(response, 401)["type"] == "authentication_error"
        assert body.pulled == 0, body.pulled  # refused before the first byte
        malformed = await client.post(
            path, content=b'{"not": json', headers={"content-type": "application/json", **headers}
        )
        _shape(malformed, 401)


@pytest.mark.parametrize("service", ["economist", "aegis"])
async def test_bodies_over_the_cap_are_413(service, settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    values = {**settings.model_dump(), "oco_max_body_bytes": 64 * 1024}
    module = importlib.import_module(f"{service}.app")
    client = await serve_app(module.create_app(type(settings)(_env_file=None, **values)))
    key = {
        "X-API-Key": (await keystore.create(unique(service), [service])).plaintext,
        "content-type": "application/json",
    }
    path = POSTS[service]
    declared = await client.post(path, content=b" " * (64 * 1024 + 1), headers=key)
    assert _shape(declared, 413)["code"] == "too_large"
    streamed = CountingBody(FIFTY_MB)
    response = await client.post(path, content=streamed, headers=key)  # chunked: no content-length
    assert _shape(response, 413)["code"] == "too_large"
    assert streamed.pulled <= 64 * 1024 + len(CHUNK), streamed.pulled  # stopped at the cap
    small = await client.post(path, content=b"{}", headers=key)
    assert small.status_code == 422  # under the cap: the route's own validation answers


async def test_upload_routes_have_their_own_limit(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    from datetime import date
    from decimal import Decimal

    from economist.app import create_app
    from economist.settings import EconomistSettings

    values = {
        **settings.model_dump(),
        "oco_max_body_bytes": 4096,
        "oco_economist_max_upload_bytes": 2 * 1024 * 1024,
    }
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **values)))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    rows = [
        {
            "provider": unique("P"),
            "day": date(2026, 1, 1 + i % 28),
            "service": "S",
            "resource": f"r-{i}",
            "cost": Decimal(1),
        }
        for i in range(600)
    ]
    content = focus_csv(rows)
    assert 4096 < len(content) < 2 * 1024 * 1024
    uploaded = await client.post("/api/v1/ingestions/upload", content=content, params={"filename": "big.csv"})
    assert uploaded.status_code == 201, uploaded.text[:300]
    over = await client.post(
        "/api/v1/ingestions/upload", content=CountingBody(3 * 1024 * 1024), params={"filename": "x.csv"}
    )
    _shape(over, 413)
    budget = await client.post("/api/v1/budgets", json={"name": "x" * 5000})
    _shape(budget, 413)  # the API's own cap still holds elsewhere


async def test_cerebra_v1_reads_the_key_first_and_caps_the_body(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    from cerebra.app import create_app
    from cerebra.settings import CerebraSettings

    values = {**settings.model_dump(), "oco_cerebra_max_body_bytes": 64 * 1024, "oco_cerebra_routes": None}
    client = await serve_app(create_app(CerebraSettings(_env_file=None, **values)))
    body = CountingBody(FIFTY_MB, b'{"model": ')
    response = await client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    _shape(response, 401)
    assert body.pulled == 0
    key = (await keystore.create(unique("cerebra"), ["cerebra"])).plaintext
    streamed = CountingBody(FIFTY_MB)
    over = await client.post(
        "/v1/chat/completions", content=streamed, headers={"Authorization": f"Bearer {key}"}
    )
    _shape(over, 413)
    assert streamed.pulled <= 64 * 1024 + len(CHUNK)
