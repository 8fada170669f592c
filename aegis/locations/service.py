"""The storage-locations capability: register a location after a write/read/delete probe, list, delete,
and hand out the storage backend of a location (built once per location and reused)."""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from aegis.locations import repository as repo
from aegis.storage import StorageBackend, StorageConfigError, StorageError, storage_from_spec
from aegis.storage.errors import ProbeFailed
from oco.db import Database
from oco.errors import Conflict, InvalidRequest, NotFound
from oco.netguard import AddressPolicy, Refused
from oco.pagination import PageParams

S3_ALLOW_SETTING = "OCO_AEGIS_S3_ENDPOINT_ALLOW"


class LocationService:
    """Locations live in the database; their backends (boto3 clients, ...) are cached per process."""

    def __init__(
        self,
        database: Database,
        *,
        local_roots: Sequence[Path] = (),
        s3_endpoints: AddressPolicy | None = None,
    ) -> None:
        self.database = database
        #: where an S3 endpoint_url may point: public addresses, plus OCO_AEGIS_S3_ENDPOINT_ALLOW
        self.s3_endpoints = s3_endpoints or AddressPolicy(setting=S3_ALLOW_SETTING)
        #: resolved directories a local location must be under (OCO_AEGIS_LOCAL_ROOTS, by default the data
        #: directory); an empty list (only when built by hand, never from settings) means anywhere.
        self.local_roots = [Path(r).expanduser().resolve() for r in local_roots]
        self._backends: dict[str, tuple[Any, StorageBackend]] = {}
        self._lock = threading.Lock()

    async def create(
        self, name: str, type_: str, config: dict[str, Any], *, created_by: str | None
    ) -> dict[str, Any]:
        """Probe the location, then record it. Raises InvalidRequest/ProbeFailed (400) or Conflict (409)."""
        if await self.get(name) is not None:
            raise Conflict(f"storage location {name!r} already exists", code="already_exists", param="name")
        if "@" in str(config.get("endpoint_url") or ""):  # the API refuses it too; never store credentials
            raise InvalidRequest(
                "endpoint_url must not carry credentials", param="endpoint_url", code="invalid_location"
            )
        endpoint = str(config.get("endpoint_url") or "")
        if endpoint:
            await asyncio.to_thread(self._check_endpoint, endpoint, "endpoint_url", None)
        if type_ == "local":  # stored absolute and resolved: never re-resolved against the working directory
            resolved = await asyncio.to_thread(self._check_local_root, str(config.get("path") or ""))
            config = {**config, "path": str(resolved)}
        try:
            backend = await asyncio.to_thread(storage_from_spec, {"name": name, "type": type_, **config})
        except StorageError as exc:
            raise InvalidRequest(str(exc), code="invalid_location") from None
        try:
            probe = await asyncio.to_thread(backend.probe)
            error = probe.error
        except Exception as exc:  # an error the adapter did not wrap (boto3's S3UploadFailedError)
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            if endpoint:  # the caller's URL is not echoed back (it may name an internal host)
                error = error.replace(endpoint.rstrip("/"), "the endpoint_url")
            raise ProbeFailed(f"storage location {name!r} failed its write/read/delete probe: {error}")
        try:
            async with self.database.engine.begin() as conn:
                await repo.insert_location(conn, name=name, type_=type_, config=config, created_by=created_by)
        except IntegrityError:
            raise Conflict(
                f"storage location {name!r} already exists", code="already_exists", param="name"
            ) from None
        row = await self.get(name)
        assert row is not None
        return row

    def _check_local_root(self, path: str, *, param: str = "path", name: str | None = None) -> Path:
        """The resolved path (symlinks followed), or 422 when it is outside OCO_AEGIS_LOCAL_ROOTS."""
        try:
            resolved = Path(path).expanduser().resolve()
        except (OSError, ValueError):  # a NUL, a loop of symlinks
            raise InvalidRequest(
                "the local path cannot be resolved", param=param, code="invalid_location"
            ) from None
        if self.local_roots and not any(
            resolved == root or resolved.is_relative_to(root) for root in self.local_roots
        ):
            what = f"storage location {name!r} is" if name else "a local storage location must be"
            raise InvalidRequest(
                f"{what} outside the directories of OCO_AEGIS_LOCAL_ROOTS (default: the data directory)",
                param=param,
                code="path_not_allowed",
            )
        return resolved

    def _check_endpoint(self, endpoint: str, param: str, name: str | None) -> None:
        """422 when an S3 endpoint's host resolves to a non-public address OCO_AEGIS_S3_ENDPOINT_ALLOW does not
        name (checked at creation and before each use: DNS can change); the URL is never echoed."""
        try:
            self.s3_endpoints.check_sync(endpoint, what="endpoint_url")
        except Refused as exc:
            where = f"storage location {name!r}: " if name else ""
            raise InvalidRequest(f"{where}{exc}", param=param, code="endpoint_not_allowed") from None

    def check_usable(self, row: dict[str, Any], *, param: str = "storage_location") -> None:
        """Re-check a stored location against today's rules (it may predate them): a local path outside the
        roots, or an S3 endpoint that now resolves to a refused address, is a 422 naming the location.
        Synchronous (it may resolve a host name): call it from a thread."""
        config = row["config"] or {}
        if row["type"] == "local":
            self._check_local_root(str(config.get("path") or ""), param=param, name=row["name"])
        elif config.get("endpoint_url"):
            self._check_endpoint(str(config["endpoint_url"]), param, row["name"])

    async def absolutize_local_paths(self) -> int:
        """Start-up fix-up: a local location stored with a relative path (before paths were stored resolved)
        gets the absolute path it resolved to from this working directory; returns how many were fixed."""
        fixed = 0
        async with self.database.engine.begin() as conn:
            for row in await repo.list_locations(conn):
                path = str((row["config"] or {}).get("path") or "")
                if row["type"] == "local" and path and not Path(path).is_absolute():
                    absolute = str(await asyncio.to_thread(_resolved, path))
                    await repo.update_config(conn, row["name"], {**row["config"], "path": absolute})
                    fixed += 1
        return fixed

    async def get(self, name: str) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_location(conn, name)

    async def list(self) -> list[dict[str, Any]]:
        async with self.database.engine.connect() as conn:
            return await repo.list_locations(conn)

    async def page(self, params: PageParams) -> tuple[builtins.list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.page_locations(conn, params)

    async def delete(self, name: str) -> bool:
        """Forget a location (its archives stay where they are). Refused while schedules or backups use it."""
        async with self.database.engine.begin() as conn:
            if await repo.get_location(conn, name) is None:
                return False
            schedules, backups = await repo.references(conn, name)
            if schedules or backups:
                raise Conflict(
                    f"storage location {name!r} is used by {schedules} schedule(s) and {backups} backup(s);"
                    " delete those first",
                    code="location_in_use",
                )
            await repo.delete_location(conn, name)
        with self._lock:
            self._backends.pop(name, None)
        return True

    async def require(self, name: str, *, param: str = "storage_location") -> dict[str, Any]:
        """The location's row, or InvalidRequest naming the field that referred to it."""
        row = await self.get(name)
        if row is None:
            raise InvalidRequest(f"unknown storage location {name!r}", param=param, code="unknown_location")
        await asyncio.to_thread(self.check_usable, row, param=param)
        return row

    def backend(self, row: dict[str, Any]) -> StorageBackend:
        """The backend of a location row (synchronous: may build a boto3 client; call from a thread), after
        re-checking the row against today's rules (check_usable)."""
        self.check_usable(row)
        key = (row["type"], sorted((row["config"] or {}).items()))
        with self._lock:
            cached = self._backends.get(row["name"])
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            backend = storage_from_spec({"name": row["name"], "type": row["type"], **(row["config"] or {})})
        except StorageConfigError as exc:
            raise NotFound(f"storage location {row['name']!r} is misconfigured: {exc}") from None
        with self._lock:
            self._backends[row["name"]] = (key, backend)
        return backend


def _resolved(path: str) -> Path:
    return Path(path).expanduser().resolve()
