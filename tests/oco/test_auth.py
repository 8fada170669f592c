"""Auth: hashed keys, prefix lookup, revocation, expiry, scopes, Bearer opt-in, nothing stored in clear."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends

from oco.app import make_service_app
from oco.auth import KEY_PREFIX, Principal, generate_key, hash_key, require_scope
from tests.conftest import table_rows


def test_generated_keys_are_long_random_and_prefixed() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) >= len(KEY_PREFIX) + 43  # 32 random bytes in urlsafe base64
    assert hash_key("oco_abc") == hashlib.sha256(b"oco_abc").hexdigest()


@pytest.fixture
async def client(settings, serve_app):  # type: ignore[no-untyped-def]
    bearer = APIRouter()

    @bearer.get("/bearer-ok")
    async def bearer_ok(p: Principal = Depends(require_scope("economist", allow_bearer=True))) -> dict:
        return {"name": p.name}

    app = make_service_app("economist", "economist", [bearer], settings=settings)
    return await serve_app(app)


async def test_valid_key_missing_wrong_revoked_expired_and_scopes(client, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    good = await keystore.create(unique("good"), ["economist"])
    response = await client.get("/api/v1/whoami", headers={"X-API-Key": good.plaintext})
    assert response.status_code == 200
    assert response.json()["name"] == good.name
    assert response.json()["scopes"] == ["economist"]

    missing = await client.get("/api/v1/whoami")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"

    # same prefix, different tail: the prefix row is found but the hash does not match
    wrong = good.plaintext[:12] + ("A" if good.plaintext[12] != "A" else "B") + good.plaintext[13:]
    assert (await client.get("/api/v1/whoami", headers={"X-API-Key": wrong})).status_code == 401
    assert (await client.get("/api/v1/whoami", headers={"X-API-Key": "not-a-key"})).status_code == 401

    other_scope = await keystore.create(unique("aegis-only"), ["aegis"])
    forbidden = await client.get("/api/v1/whoami", headers={"X-API-Key": other_scope.plaintext})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["type"] == "permission_error"

    admin = await keystore.create(unique("admin"), ["admin"])
    assert (await client.get("/api/v1/whoami", headers={"X-API-Key": admin.plaintext})).status_code == 200

    expired = await keystore.create(unique("expired"), ["economist"], expires_in=timedelta(seconds=-1))
    assert (await client.get("/api/v1/whoami", headers={"X-API-Key": expired.plaintext})).status_code == 401

    assert await keystore.revoke(good.id)
    await asyncio.sleep(0.3)  # the app's verified-key cache TTL (0.2 s in tests)
    revoked = await client.get("/api/v1/whoami", headers={"X-API-Key": good.plaintext})
    assert revoked.status_code == 401
    assert not await keystore.revoke(good.id)


async def test_bearer_only_where_a_route_opts_in(client, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    key = await keystore.create(unique("bearer"), ["economist"])
    bearer = {"Authorization": f"Bearer {key.plaintext}"}
    assert (await client.get("/api/v1/whoami", headers=bearer)).status_code == 401
    opted = await client.get("/bearer-ok", headers=bearer)
    assert opted.status_code == 200
    assert opted.json() == {"name": key.name}


async def test_plaintext_key_is_stored_nowhere(keystore, database, unique) -> None:  # type: ignore[no-untyped-def]
    created = await keystore.create(unique("scan"), ["cerebra"], team="team-a")
    assert await keystore.verify(created.plaintext) is not None
    await keystore.flush_last_used()
    rows = await table_rows(database, "api_keys")
    mine = [r for r in rows if r["id"] == created.id]
    assert len(mine) == 1
    assert mine[0]["key_hash"] == hash_key(created.plaintext)
    assert mine[0]["last_used_at"] is not None
    for row in rows:
        for column, value in row.items():
            assert created.plaintext not in str(value), column
            assert created.plaintext[12:] not in str(value), column


async def test_cached_key_needs_no_database(keystore, unique) -> None:  # type: ignore[no-untyped-def]
    created = await keystore.create(unique("cached"), ["cerebra"])
    assert await keystore.verify(created.plaintext) is not None
    keystore.cache_ttl_s = 60
    await keystore.verify(created.plaintext)  # refresh the entry with the long TTL
    original = keystore.database.sessions
    keystore.database.sessions = None  # any database access would now raise
    try:
        principal = await keystore.verify(created.plaintext)
    finally:
        keystore.database.sessions = original
    assert principal is not None and principal.name == created.name


async def test_invalid_scope_is_rejected(keystore) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown scope"):
        await keystore.create("x", ["root"])


async def test_key_table_has_prefix_index(database) -> None:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: sa.inspect(c).get_indexes("api_keys"))
    assert any(ix["column_names"] == ["key_prefix"] for ix in indexes)


async def test_database_outage_keeps_recently_verified_keys_working(database_url, unique) -> None:  # type: ignore[no-untyped-def]
    from oco.auth import KeyStore
    from oco.db import Database
    from oco.errors import ApiError

    # a second Database object whose engine we can dispose and point at a dead server
    db = Database(database_url, pool_size=1)
    store = KeyStore(db, cache_ttl_s=0.05, stale_grace_s=60)
    known = await store.create(unique("known"), ["cerebra"])
    unknown = await store.create(unique("unknown"), ["cerebra"])
    assert await store.verify(known.plaintext) is not None
    await asyncio.sleep(0.1)  # the cache entry is past its TTL: a database lookup would be due
    await db.dispose()
    dead = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_size=1)
    store.database = dead
    try:
        principal = await store.verify(known.plaintext)
        assert principal is not None and principal.name == known.name
        with pytest.raises(ApiError) as unavailable:
            await store.verify(unknown.plaintext)
        assert unavailable.value.status == 503
    finally:
        await dead.dispose()
