"""API keys: generation, SHA-256 hashing, prefix lookup with constant-time comparison, a short
verified-key cache, and the FastAPI dependencies that guard every route by scope."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from oco.db import Database
from oco.errors import ApiError
from oco.tables import api_keys
from oco.timeutil import as_utc, utcnow

KEY_PREFIX = "oco_"
PREFIX_LENGTH = 12
log = logging.getLogger("oco.auth")
SCOPES = ("cerebra", "economist", "aegis", "admin")
_NEGATIVE_CACHE_LIMIT = 10_000

#: called inside a key write's transaction with (session, row before, row after): the audit log
WriteHook = Callable[[Any, dict | None, dict], Awaitable[None]]


def generate_key() -> str:
    """A new key: `oco_` + 32 random bytes, urlsafe base64 (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 hex of the whole key: the only form ever stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """The indexed lookup prefix (first 12 characters; public, not secret enough to authenticate)."""
    return key[:PREFIX_LENGTH]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    key_id: int
    name: str
    scopes: frozenset[str]
    team: str | None
    expires_at: datetime | None
    org: str | None = None
    models: frozenset[str] | None = None  # cerebra aliases it may call; None: any

    def has_scope(self, scope: str) -> bool:
        """`admin` grants every scope."""
        return scope in self.scopes or "admin" in self.scopes

    def may_call(self, alias: str | None) -> bool:
        """Whether the key's model allow-list (if any) names this alias."""
        return self.models is None or (alias is not None and alias in self.models)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A freshly created key: `plaintext` is shown once and never stored."""

    id: int
    name: str
    plaintext: str
    scopes: list[str]
    team: str | None
    expires_at: datetime | None
    org: str | None = None
    models: list[str] | None = None


def unauthorized() -> ApiError:
    """401 whose message never says which part of the key was wrong."""
    return ApiError(401, "invalid or missing API key", code="invalid_api_key", type_="authentication_error")


def forbidden(scope: str) -> ApiError:
    """403 for a valid key without the route's scope."""
    return ApiError(
        403, f"this API key lacks the '{scope}' scope", code="insufficient_scope", type_="permission_error"
    )


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """Reject unknown scope names; keep order, drop duplicates."""
    result: list[str] = []
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        if scope not in result:
            result.append(scope)
    if not result:
        raise ValueError("at least one scope is required")
    return result


class KeyStore:
    """Creates, lists, revokes and verifies keys; verified keys are cached for `cache_ttl_s` seconds,
    so a revocation takes effect within that time on every replica. While the database is unreachable,
    a key verified within the last `stale_grace_s` seconds keeps working (DESIGN section 5); others get 503."""

    def __init__(self, database: Database, *, cache_ttl_s: float = 5.0, stale_grace_s: float = 300.0) -> None:
        self.database = database
        self.cache_ttl_s = cache_ttl_s
        self.stale_grace_s = (
            stale_grace_s  # how long past its TTL a verified key still works when the DB is down
        )
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._negative: dict[str, float] = {}
        self._last_used: dict[int, datetime] = {}

    # -- administration ---------------------------------------------------------------------------
    async def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        team: str | None = None,
        expires_in: timedelta | None = None,
        org: str | None = None,
        models: list[str] | None = None,
        expires_at: datetime | None = None,
        on_write: WriteHook | None = None,
    ) -> CreatedKey:
        """Create a key and return its plaintext once. `on_write(session, None, row)` runs in the same
        transaction (the audit log)."""
        scope_list = validate_scopes(scopes)
        if not name.strip():
            raise ValueError("a key needs a name")
        plaintext = generate_key()
        if expires_in:
            expires_at = utcnow() + expires_in
        values = {
            "name": name,
            "scopes": scope_list,
            "team": team,
            "org": org,
            "models": models,
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        async with self.database.session() as session:
            result = await session.execute(
                api_keys.insert()
                .values(key_prefix=key_prefix(plaintext), key_hash=hash_key(plaintext), **values)
                .returning(api_keys.c.id)
            )
            key_id = result.scalar_one()
            if on_write is not None:
                await on_write(session, None, {"id": key_id, "key_prefix": key_prefix(plaintext), **values})
        return CreatedKey(key_id, name, plaintext, scope_list, team, expires_at, org, models)

    async def get(self, key_id: int) -> dict | None:
        """One key's metadata (never its hash)."""
        columns = [c for c in api_keys.c if c.name != "key_hash"]
        async with self.database.sessions() as session:
            row = (
                (await session.execute(sa.select(*columns).where(api_keys.c.id == key_id))).mappings().first()
            )
        return dict(row) if row else None

    async def update(
        self, key_id: int, changes: dict[str, Any], *, on_write: WriteHook | None = None
    ) -> dict | None:
        """Change an unrevoked key's name, scopes, team, org, models or expiry; the new metadata, or None
        when there is no such active key. Cached verifications of it are dropped here at once (other
        replicas within the cache TTL)."""
        if "scopes" in changes:
            changes = {**changes, "scopes": validate_scopes(changes["scopes"])}
        if "name" in changes and not str(changes["name"]).strip():
            raise ValueError("a key needs a name")
        columns = [c for c in api_keys.c if c.name != "key_hash"]
        async with self.database.session() as session:
            where = (api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            before = (
                (await session.execute(sa.select(*columns).where(*where).with_for_update()))
                .mappings()
                .first()
            )
            if before is None:
                return None
            if changes:
                await session.execute(api_keys.update().where(*where).values(**changes))
            after = {**dict(before), **changes}
            if on_write is not None:
                await on_write(session, dict(before), after)
        self._forget(key_id)
        return after

    def _forget(self, key_id: int) -> None:
        self._cache = {h: entry for h, entry in self._cache.items() if entry[0].key_id != key_id}

    async def list(self) -> list[dict]:
        """Every key's metadata (never a hash or plaintext)."""
        columns = [c for c in api_keys.c if c.name not in {"key_hash"}]
        async with self.database.session() as session:
            rows = (await session.execute(sa.select(*columns).order_by(api_keys.c.id))).mappings().all()
        return [dict(row) for row in rows]

    async def count(self) -> int:
        """How many keys exist (revoked included)."""
        async with self.database.session() as session:
            return (await session.execute(sa.select(sa.func.count()).select_from(api_keys))).scalar_one()

    async def revoke(self, key_id: int, *, on_write: WriteHook | None = None) -> bool:
        """Mark a key revoked; False when no such active key exists."""
        async with self.database.session() as session:
            revoked_at = utcnow()
            result = await session.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=revoked_at)
            )
            done = cast("sa.CursorResult[Any]", result).rowcount > 0
            if done and on_write is not None:
                await on_write(
                    session, {"id": key_id, "revoked_at": None}, {"id": key_id, "revoked_at": revoked_at}
                )
        self._forget(key_id)
        return done

    # -- verification -----------------------------------------------------------------------------
    async def verify(self, key: str | None) -> Principal | None:
        """The principal for a valid, unrevoked, unexpired key, or None."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 256:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            hit = cached[0]
            if hit.expires_at is not None and hit.expires_at <= utcnow():
                return None
            self._last_used[hit.key_id] = utcnow()
            return hit
        negative = self._negative.get(digest)
        if negative is not None and negative > now:
            return None
        try:
            principal = await self._lookup(key, digest)
        except Exception as exc:  # noqa: BLE001 - database down: recently verified keys keep working
            if cached is not None and now - cached[1] < self.stale_grace_s:
                log.warning("key store unreachable (%s): serving a recently verified key", type(exc).__name__)
                return cached[0]
            raise ApiError(
                503,
                "authentication is temporarily unavailable",
                code="auth_unavailable",
                headers={"retry-after": "5"},
            ) from None
        if principal is None:
            if len(self._negative) >= _NEGATIVE_CACHE_LIMIT:
                self._negative.clear()
            self._negative[digest] = now + self.cache_ttl_s
            return None
        self._cache[digest] = (principal, now + self.cache_ttl_s)
        self._last_used[principal.key_id] = utcnow()
        return principal

    async def _lookup(self, key: str, digest: str) -> Principal | None:
        async with self.database.sessions() as session:
            rows = (
                (await session.execute(sa.select(api_keys).where(api_keys.c.key_prefix == key_prefix(key))))
                .mappings()
                .all()
            )
        match = None
        for row in rows:  # compare every candidate so timing does not depend on which one matched
            if hmac.compare_digest(row["key_hash"], digest):
                match = row
        if match is None or match["revoked_at"] is not None:
            return None
        expires_at = as_utc(match["expires_at"])
        if expires_at is not None and expires_at <= utcnow():
            return None
        models = match["models"]
        return Principal(
            match["id"],
            match["name"],
            frozenset(match["scopes"]),
            match["team"],
            expires_at,
            match["org"],
            frozenset(models) if models is not None else None,
        )

    async def flush_last_used(self) -> int:
        """Write the buffered `last_used_at` times (one UPDATE per key used since the last flush)."""
        pending, self._last_used = self._last_used, {}
        if not pending:
            return 0
        async with self.database.session() as session:
            for key_id, used_at in pending.items():
                await session.execute(
                    api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=used_at)
                )
        return len(pending)

    async def run_last_used_flusher(self, interval_s: float = 30.0) -> None:
        """Background task: flush `last_used_at` every `interval_s` seconds, tolerating database outages."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush_last_used()
            except Exception as exc:  # noqa: BLE001 - the database may be down; try again next round
                log.warning("could not record key last-use times: %s", type(exc).__name__)


def extract_key(headers_get: Callable[[str], str | None], *, allow_bearer: bool) -> str | None:
    """The key from `X-API-Key`, or from `Authorization: Bearer` where the route opts in."""
    key = headers_get("x-api-key")
    if key:
        return key.strip()
    if allow_bearer:
        authorization = headers_get("authorization")
        if authorization and authorization[:7].lower() == "bearer ":
            return authorization[7:].strip()
    return None


async def authenticate(store: KeyStore, key: str | None, scope: str) -> Principal:
    """Verify a key for a scope: 401 when it is missing or not valid, 403 when the scope is missing."""
    principal = await store.verify(key)
    if principal is None:
        raise unauthorized()
    if not principal.has_scope(scope):
        raise forbidden(scope)
    return principal


#: the OpenAPI security scheme of every key-checked route (declared through FastAPI's own security
#: dependency, so /docs has an Authorize button; the key is still read and checked below, never by it)
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", scheme_name="APIKeyHeader", auto_error=False)


def require_scope(scope: str, *, allow_bearer: bool = False) -> Callable[..., object]:
    """A FastAPI dependency returning the caller's Principal for routes of `scope`."""

    async def dependency(
        request: Request, _declared: Annotated[str | None, Security(API_KEY_HEADER)] = None
    ) -> Principal:
        key = extract_key(request.headers.get, allow_bearer=allow_bearer)
        principal = await authenticate(request.app.state.keys, key, scope)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope}_scope"
    dependency.checks_api_key = True  # type: ignore[attr-defined]  # oco.errors runs it before a body error
    return dependency
