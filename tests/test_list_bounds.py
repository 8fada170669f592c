"""Hardening (issue #16, finding 1): every list route of every service takes the kernel's pagination
bounds (oco/pagination.py), so an offset past a 64-bit integer is a 422 naming `offset`, never a 500."""

from __future__ import annotations

import importlib

import pytest

from oco.pagination import MAX_OFFSET, MAX_PAGE_SIZE

HUGE = str(2**63)  # one past the largest BIGINT: an OverflowError in the driver when it gets through


@pytest.mark.parametrize("service", ["economist", "aegis"])
async def test_every_list_route_bounds_limit_and_offset(
    service, settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    key = (await keystore.create(unique(service), [service])).plaintext
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
