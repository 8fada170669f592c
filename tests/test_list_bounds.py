"""Hardening (issue #16, finding 1): every list route of every service takes the kernel's pagination
bounds (oco/pagination.py), so an offset past a 64-bit integer is a 422 naming `offset`, never a 500."""

from __future__ import annotations

import importlib

import pytest

from oco.pagination import MAX_OFFSET, MAX_PAGE_SIZE

HUGE = str(2**63)  # one past the largest BIGINT: an OverflowError in the driver when it gets through


@pytest.mark.parametrize("service", ["economist", "aegis", "cerebra"])
async def test_every_list_route_bounds_limit_and_offset(
    service, settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    key = (await keystore.create(unique(service), [service, "admin"])).plaintext
    spec = (await client.get("/openapi.json")).json()
    lists = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        query = {p["name"]: p for p in get.get("parameters", []) if p["in"] == "query"}
        if "offset" in query:
            assert query["offset"]["schema"].get("maximum") == MAX_OFFSET, path
            assert query["limit"]["schema"].get("maximum") == MAX_PAGE_SIZE, path
            lists.append(path)
    assert len(lists) >= 4, lists  # the walk really finds the list routes (backups, restores, ...)
    for path in lists:
        for name, value in (("offset", HUGE), ("offset", "-1"), ("limit", HUGE), ("limit", "0")):
            response = await client.get(path, params={name: value}, headers={"X-API-Key": key})
            assert response.status_code == 422, (path, name, value, response.text)
            error = response.json()["error"]
            assert error["param"] == name and error["type"] == "invalid_request_error", (path, error)
        deepest = await client.get(path, params={"offset": MAX_OFFSET}, headers={"X-API-Key": key})
        assert deepest.status_code != 500, (path, deepest.text)


@pytest.mark.parametrize("service", ["economist", "aegis", "cerebra"])
async def test_every_integer_path_id_is_bounded(service, settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    """Row ids in paths are bounded to what the integer columns hold (oco/params.py): a 2**63 id is a 422,
    never an OverflowError (schemathesis found GET /api/v1/recommendations/{id} doing that)."""
    from oco.params import MAX_ROW_ID

    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    key = (await keystore.create(unique(service), [service, "admin"])).plaintext
    spec = (await client.get("/openapi.json")).json()
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            ids = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"
            ]
            if not ids:
                continue
            for p in operation["parameters"]:
                if p["name"] in ids:
                    assert p["schema"].get("maximum") == MAX_ROW_ID, (method, path, p)
            url = path
            for name in ids:
                url = url.replace("{" + name + "}", HUGE)
            url = url.replace("{", "").replace("}", "")
            response = await client.request(method.upper(), url, headers={"X-API-Key": key}, json={})
            assert response.status_code == 422, (method, path, response.text)
            checked += 1
    assert checked >= 5


async def test_recommendations_refresh_bounds_as_of(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    """`as_of` takes the query date bounds (a day near year 1 made the window start overflow: a 500)."""
    client = await serve_app(importlib.import_module("economist.app").create_app(settings))
    key = {"X-API-Key": (await keystore.create(unique("econ"), ["economist"])).plaintext}
    for as_of in ("0001-01-02", "9999-12-31"):
        response = await client.post("/api/v1/recommendations/refresh", json={"as_of": as_of}, headers=key)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == "as_of"
