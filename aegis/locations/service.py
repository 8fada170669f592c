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
from oco.pagination import PageParams


class LocationService:
    """Locations live in the database; their backends (boto3 clients, ...) are cached per process."""

    def __init__(self, database: Database, *, local_roots: Sequence[Path] = ()) -> None:
        self.database = database
        #: resolved directories a local location must be under (OCO_AEGIS_LOCAL_ROOTS; empty: anywhere).
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
        if type_ == "local":
            await asyncio.to_thread(self._check_local_root, str(config.get("path") or ""))
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

    def _check_local_root(self, path: str) -> None:
        """Refuse (422) a local path outside OCO_AEGIS_LOCAL_ROOTS, symlinks resolved."""
        if not self.local_roots:
            return
        resolved = Path(path).expanduser().resolve()
        if not any(resolved == root or resolved.is_relative_to(root) for root in self.local_roots):
            raise InvalidRequest(
                "a local storage location must be under one of the directories of OCO_AEGIS_LOCAL_ROOTS",
                param="path",
                code="path_not_allowed",
            )

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
        return row

    def backend(self, row: dict[str, Any]) -> StorageBackend:
        """The backend of a location row (synchronous: may build a boto3 client; call from a thread)."""
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
