"""The one error tree: every kind renders its status, type, code and param through the one handler, and
database failures are classified by the kernel (409 duplicate, 400 refused value, 503 unreachable)."""

from __future__ import annotations

import socket
import sqlite3
import uuid

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from oco.app import make_service_app
from oco.db import Database
from oco.errors import (
    ApiError,
    BadGateway,
    BadRequest,
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    database_error,
)


class MissingThing(Conflict):
    """A domain error of a service: a kind of the tree with its own code."""

    default_code = "missing_thing"


KINDS = [
    (BadRequest("bad x", param="x"), 400, "invalid_request_error", "bad_request", "x"),
    (NotFound("backup 12 not found"), 404, "not_found_error", "not_found", None),
    (Conflict("taken", code="already_exists", param="name"), 409, "conflict_error", "already_exists", "name"),
    (PayloadTooLarge("too big"), 413, "request_too_large", "too_large", None),
    (
        InvalidRequest("unknown cluster", param="cluster"),
        422,
        "invalid_request_error",
        "invalid_request",
        "cluster",
    ),
    (BadGateway("storage did not answer"), 502, "upstream_error", "upstream_unavailable", None),
    (Unavailable("later"), 503, "service_unavailable", "unavailable", None),
    (MissingThing("no thing", param="thing"), 409, "conflict_error", "missing_thing", "thing"),
    (
        ApiError(429, "slow down", code="rate_limited", headers={"Retry-After": "3"}),
        429,
        "rate_limit_error",
        "rate_limited",
        None,
    ),
]


def _app(settings, routes: APIRouter):  # type: ignore[no-untyped-def]
    return make_service_app("errors-test", "admin", [routes], settings=settings)


async def test_every_kind_renders_through_the_one_handler(settings, serve_app) -> None:  # type: ignore[no-untyped-def]
    routes = APIRouter()

    @routes.get("/raise/{index}")
    async def _raise(index: int) -> None:
        raise KINDS[index][0]

    @routes.get("/extra")
    async def _extra() -> None:
        raise BadRequest(
            "row 3 is bad", code="invalid_row", extra={"ingestion_id": 7, "errors": [{"line": 3}]}
        )

    client = await serve_app(_app(settings, routes))
    for index, (_exc, status, type_, code, param) in enumerate(KINDS):
        response = await client.get(f"/raise/{index}")
        assert response.status_code == status, response.text
        assert response.json() == {
            "error": {"message": str(KINDS[index][0]), "type": type_, "param": param, "code": code}
        }
    assert (await client.get(f"/raise/{len(KINDS) - 1}")).headers["retry-after"] == "3"
    extra = (await client.get("/extra")).json()
    assert extra["ingestion_id"] == 7 and extra["errors"] == [{"line": 3}]
    assert extra["error"]["code"] == "invalid_row"


def test_kinds_are_api_errors_with_the_root_signature_kept() -> None:
    assert all(isinstance(exc, ApiError) for exc, *_ in KINDS)
    root = ApiError(404, "gone", code="not_found", param="id", type_="custom", headers={"A": "b"})
    assert (root.status, root.message, root.code, root.param, root.type, root.headers) == (
        404,
        "gone",
        "not_found",
        "id",
        "custom",
        {"A": "b"},
    )
    assert NotFound.status_code == 404 and NotFound("x").status == 404


def test_duplicates_are_conflicts_and_sqlite_busy_is_unavailable() -> None:
    class PgError(Exception):
        sqlstate = "23505"

    assert database_error(DBAPIError("INSERT", {}, PgError())).status == 409  # type: ignore[union-attr]
    unique = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: t.name"))
    assert database_error(unique).code == "duplicate"  # type: ignore[union-attr]
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert database_error(locked).status == 503  # type: ignore[union-attr]


@pytest.fixture
async def scratch_table(database: Database):  # type: ignore[no-untyped-def]
    """A table of this test only: `name` is unique, NOT NULL and at most 5 characters."""
    table = sa.Table(
        f"errors_test_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(5), nullable=False, unique=True),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(table.create)
    yield table
    async with database.engine.begin() as conn:
        await conn.run_sync(table.drop)


async def test_database_failures_answer_through_the_one_handler(  # type: ignore[no-untyped-def]
    settings, serve_app, scratch_table, database, tmp_path
) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    routes = APIRouter()

    @routes.post("/rows")
    async def _insert(request: Request, name: str | None = None) -> dict:
        async with request.app.state.database.engine.begin() as conn:
            await conn.execute(sa.insert(scratch_table).values(name=name))
        return {"ok": True}

    @routes.get("/down")
    async def _down() -> None:
        url = (  # nothing listens on port 1; a regular file cannot hold a database directory
            "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
            if database.dialect == "postgresql"
            else f"sqlite+aiosqlite:///{not_a_dir}/oco.db"
        )
        unreachable = create_async_engine(url)
        try:
            async with unreachable.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        finally:
            await unreachable.dispose()

    client = await serve_app(_app(settings, routes))
    assert (await client.post("/rows", params={"name": "a"})).status_code == 200
    duplicate = await client.post("/rows", params={"name": "a"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate", duplicate.text
    missing = await client.post("/rows")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_value", missing.text
    if database.dialect == "postgresql":  # SQLite does not enforce VARCHAR lengths
        too_long = await client.post("/rows", params={"name": "abcdefgh"})
        assert too_long.status_code == 400 and "too long" in too_long.json()["error"]["message"]
    down = await client.get("/down")
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "database_unavailable"


def test_transient_transaction_failures_are_unavailable_not_500() -> None:
    """A deadlock or a serialization failure (SQLSTATE class 40) is the database asking for a retry."""

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    for state in ("40001", "40P01"):
        failure = database_error(DBAPIError("UPDATE", {}, PgError(state)))
        assert failure is not None and (failure.status, failure.code) == (503, "database_unavailable"), state


async def test_an_exhausted_pool_and_an_unresolvable_host_answer_503(
    settings, serve_app, database_url
) -> None:  # type: ignore[no-untyped-def]
    """Every pooled connection busy (SQLAlchemy's pool TimeoutError) and a database host that does not
    resolve (asyncpg raises socket.gaierror unwrapped) are the database being unavailable, not a crash."""
    routes = APIRouter()

    @routes.get("/busy")
    async def _busy() -> None:
        engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.05)
        try:
            async with engine.connect() as held:
                await held.execute(sa.text("SELECT 1"))
                async with engine.connect() as conn:  # no connection left in the pool
                    await conn.execute(sa.text("SELECT 1"))
        finally:
            await engine.dispose()

    @routes.get("/unresolvable")
    async def _unresolvable() -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = await serve_app(_app(settings, routes))
    for path in ("/busy", "/unresolvable"):
        response = await client.get(path)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["error"]["code"] == "database_unavailable", path


async def test_a_crash_answers_500_with_its_request_id_and_logs_it(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    """The catch-all runs outside the request-id middleware (Starlette puts it outermost): the 500 and its
    log line must still carry the request's id, so a user's report can be matched to the traceback."""
    import httpx
    from asgi_lifespan import LifespanManager

    routes = APIRouter()

    @routes.get("/crash")
    async def _crash() -> None:
        raise RuntimeError("a bug")

    async with LifespanManager(_app(settings, routes)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with caplog.at_level("ERROR", logger="oco.errors"):
                response = await client.get("/crash", headers={"X-Request-ID": "req-crash-1"})
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    assert response.headers.get("x-request-id") == "req-crash-1"
    logged = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert logged and logged[0].fields["request_id"] == "req-crash-1"  # type: ignore[attr-defined]
