"""The database away for a few seconds while cerebra serves: recently verified keys keep working, the
request log catches up with nothing lost (rows = requests served), and what needs the database answers
503 with a clear error, never 500. PostgreSQL: a proxy between cerebra and the server is cut and restored.
SQLite: another connection holds the write lock longer than the busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy.engine import make_url

from oco.db import Database
from tests.cerebra.crash_harness import CerebraProcess, Load, duplicates, logged_ids, start_cerebra
from tests.cerebra.tcp_proxy import CuttableProxy

OUTAGE_S = 4.0
CATCH_UP_S = 60.0


def outage_env(redis_url: str | None) -> dict[str, str]:
    # verified keys are re-checked after 1 s: during the outage they are served from the stale grace
    env = {"OCO_AUTH_CACHE_TTL_S": "1"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def through_proxy(database_url: str, port: int) -> str:
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def wait_for_rows(database: Database, load: Load) -> list[str]:
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        ids = await logged_ids(database, load.prefix)
        if set(ids) >= load.received or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.2)


def check_unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers.get("retry-after")


async def serve_through_outage(
    cerebra: CerebraProcess,
    database: Database,
    keys: tuple[str, str],
    outage,
    restore,  # type: ignore[no-untyped-def]
) -> tuple[Load, dict]:
    verified, never_used = keys
    seen: dict = {}
    async with httpx.AsyncClient(base_url=cerebra.url, timeout=10) as client:
        bearer = {"Authorization": f"Bearer {verified}"}
        body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
        assert (await client.post("/v1/chat/completions", json=body, headers=bearer)).status_code == 200
        load = Load(cerebra.url, verified, prefix=f"outage{uuid.uuid4().hex[:10]}", threads=3).start()
        try:
            await asyncio.sleep(1.0)
            before = load.count()
            await outage()
            await asyncio.sleep(1.5)  # past the 1 s key cache: the verified key is now served stale
            seen["readyz"] = await client.get("/readyz")
            seen["new_key"] = await client.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {never_used}"}
            )
            seen["whoami_new_key"] = await client.get("/api/v1/whoami", headers={"X-API-Key": never_used})
            seen["whoami_verified"] = await client.get("/api/v1/whoami", headers={"X-API-Key": verified})
            await asyncio.sleep(OUTAGE_S - 1.5)
            seen["served_during_outage"] = load.count() - before
            await restore()
            await asyncio.sleep(1.0)
        finally:
            await asyncio.to_thread(load.stop)  # not blocking the loop: the proxy serves on it
        seen["readyz_after"] = await client.get("/readyz")
    return load, seen


def report(name: str, cerebra: CerebraProcess, load: Load, ids: list[str], seen: dict) -> None:
    assert "write failed" in cerebra.log.read_text(), "the request log never met the outage"
    lost = load.received - set(ids)
    print(
        f"\n{name}: {len(load.received)} requests served ({seen['served_during_outage']} during the "
        f"{OUTAGE_S:.0f} s outage), statuses {load.statuses}, {len(ids)} rows: {len(lost)} lost, "
        f"{len(duplicates(ids))} duplicated"
    )
    assert not load.failed, f"requests without an answer: {dict(list(load.failed.items())[:5])}"
    assert not lost, f"{len(lost)} rows lost"
    assert not duplicates(ids)
    assert set(load.statuses) == {200}, load.statuses  # no request failed, none answered 5xx
    assert seen["served_during_outage"] > 0
    assert seen["readyz_after"].status_code == 200


async def test_postgresql_away_for_a_few_seconds(
    tmp_path, database, database_url, redis_url, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    if not database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL back end (OCO_TEST_DATABASE_URL) is not configured")
    url = make_url(database_url)
    proxy = await CuttableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    verified = (await keystore.create(unique("outage"), ["cerebra"])).plaintext
    never_used = (await keystore.create(unique("outage-new"), ["cerebra"])).plaintext
    cerebra = await asyncio.to_thread(
        start_cerebra, tmp_path / "data", through_proxy(database_url, proxy.port), outage_env(redis_url)
    )
    try:
        load, seen = await serve_through_outage(
            cerebra, database, (verified, never_used), proxy.cut, proxy.restore
        )
        ids = await wait_for_rows(database, load)
    finally:
        await asyncio.to_thread(cerebra.stop)  # the proxy runs on this loop: it must keep serving meanwhile
        await proxy.close()
    assert seen["readyz"].status_code == 503 and seen["readyz"].json()["checks"]["database"] != "ok"
    check_unavailable(seen["new_key"], "auth_unavailable")
    check_unavailable(seen["whoami_new_key"], "auth_unavailable")
    assert seen["whoami_verified"].status_code == 200
    report("PostgreSQL cut for 4 s", cerebra, load, ids, seen)


async def test_sqlite_locked_for_longer_than_the_busy_timeout(
    tmp_path, database, database_url, redis_url, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    if not database_url.startswith("sqlite"):
        pytest.skip("runs on the SQLite back end")
    path = make_url(database_url).database
    assert path
    verified = (await keystore.create(unique("locked"), ["cerebra"])).plaintext
    never_used = (await keystore.create(unique("locked-new"), ["cerebra"])).plaintext
    cerebra = await asyncio.to_thread(start_cerebra, tmp_path / "data", database_url, outage_env(redis_url))
    holder = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)

    async def lock() -> None:
        await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")

    async def unlock_later() -> None:
        await asyncio.sleep(2.5)
        await asyncio.to_thread(holder.execute, "COMMIT")

    try:
        # 4 s of the ~6.5 s lock pass the 5 s busy timeout: the writer's inserts fail and are retried
        load, seen = await serve_through_outage(cerebra, database, (verified, never_used), lock, unlock_later)
        ids = await wait_for_rows(database, load)
    finally:
        holder.close()
        cerebra.stop()
    # WAL readers are not blocked by a writer's lock: key look-ups and /readyz keep working
    assert seen["new_key"].status_code == 200
    assert seen["whoami_new_key"].status_code == 200
    assert seen["readyz"].status_code == 200
    report("SQLite write-locked for 6.5 s", cerebra, load, ids, seen)
