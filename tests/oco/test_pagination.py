"""Pagination: paginate() counts and pages a statement on the real database, every list route of every
service takes the one PageParams (one cap, a bounded offset), and out-of-range values are a 422 naming
the field, never a 500."""

from __future__ import annotations

import importlib
import uuid

import pytest
import sqlalchemy as sa

from oco.db import Database
from oco.pagination import MAX_OFFSET, MAX_PAGE_SIZE, Page, PageParams, paginate

SERVICES = ["cerebra", "economist", "aegis"]


@pytest.fixture
async def numbers(database: Database):  # type: ignore[no-untyped-def]
    """A scratch table holding n = 1..25 with a parity column."""
    table = sa.Table(
        f"pagination_test_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("even", sa.Boolean, nullable=False),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(table.create)
        await conn.execute(sa.insert(table), [{"n": n, "even": n % 2 == 0} for n in range(1, 26)])
    yield table
    async with database.engine.begin() as conn:
        await conn.run_sync(table.drop)


async def test_paginate_counts_the_whole_filtered_list_and_returns_one_page(database, numbers) -> None:  # type: ignore[no-untyped-def]
    odd_desc = sa.select(numbers).where(numbers.c.even.is_(False)).order_by(numbers.c.n.desc())
    async with database.engine.connect() as conn:
        rows, total = await paginate(conn, odd_desc, PageParams(limit=3, offset=2))
        assert total == 13 and [r["n"] for r in rows] == [21, 19, 17]
        rows, total = await paginate(conn, odd_desc, PageParams(limit=5, offset=12))
        assert total == 13 and [r["n"] for r in rows] == [1]
        rows, total = await paginate(conn, odd_desc, PageParams(limit=5, offset=100))
        assert (rows, total) == ([], 13)


def test_page_model_shape() -> None:
    page = Page[int](items=[1, 2], total=9, limit=2, offset=4)
    assert page.model_dump() == {"items": [1, 2], "total": 9, "limit": 2, "offset": 4}


def _list_routes(app) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/v1/"):  # cerebra's provider-compatible routes page as the provider's API does
            continue
        for method, operation in operations.items():
            query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if "offset" in query:  # a paged list (a top-N route's lone `limit` is not a page)
                routes.append((f"{method.upper()} {path}", query))
    return routes


@pytest.mark.parametrize("service", SERVICES)
def test_every_list_route_takes_the_one_cap(service, settings) -> None:  # type: ignore[no-untyped-def]
    app = importlib.import_module(f"{service}.app").create_app(settings)
    for route, query in _list_routes(app):
        assert query["limit"]["maximum"] == MAX_PAGE_SIZE and query["limit"]["minimum"] == 1, route
        assert query["offset"]["maximum"] == MAX_OFFSET and query["offset"]["minimum"] == 0, route


LIST_ROUTES = {
    "economist": ["/api/v1/ingestions", "/api/v1/fx-rates"],
    "aegis": ["/api/v1/backups", "/api/v1/restores", "/api/v1/schedules", "/api/v1/storage-locations"],
}


@pytest.mark.parametrize("service", sorted(LIST_ROUTES))
async def test_list_routes_page_and_refuse_out_of_range_values(  # type: ignore[no-untyped-def]
    service, settings, serve_app, keystore, unique
) -> None:
    app = importlib.import_module(f"{service}.app").create_app(settings)
    client = await serve_app(app)
    key = await keystore.create(unique(service), [service])
    headers = {"X-API-Key": key.plaintext}
    listed = {route for route, _ in _list_routes(app) if route.startswith("GET ")}
    assert {f"GET {path}" for path in LIST_ROUTES[service]} <= listed
    for path in LIST_ROUTES[service]:
        page = await client.get(path, params={"limit": MAX_PAGE_SIZE, "offset": MAX_OFFSET}, headers=headers)
        assert page.status_code == 200, (path, page.text)
        assert page.json()["items"] == [] and page.json()["limit"] == MAX_PAGE_SIZE
        assert page.json()["offset"] == MAX_OFFSET and isinstance(page.json()["total"], int)
        for field, value in (
            ("limit", MAX_PAGE_SIZE + 1),
            ("limit", 0),
            ("offset", MAX_OFFSET + 1),
            ("offset", 9223372036854775808),  # one past int64: was a 500 on aegis
            ("offset", -1),
        ):
            refused = await client.get(path, params={field: value}, headers=headers)
            assert refused.status_code == 422, (path, field, value, refused.text)
            assert refused.json()["error"]["param"] == field
