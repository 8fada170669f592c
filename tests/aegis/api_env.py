"""Support for the aegis API tests: the service app served in-process with two fake clusters (source and
restore target, driven through the official client) registered under unique names, a key, and pollers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI

from aegis.app import create_app
from aegis.settings import AegisSettings
from oco.auth import KeyStore
from oco.settings import PlatformSettings
from tests.aegis.fake_kube import FakeKubeServer

FINISHED = ("Completed", "PartiallyFailed", "Failed", "Deleted")


@dataclass
class AegisEnv:
    """A running aegis app: `client` calls it with `headers`; `src`/`dr` are the clusters' names."""

    app: FastAPI
    client: httpx.AsyncClient
    headers: dict[str, str]
    settings: AegisSettings
    src: str
    dr: str
    source: FakeKubeServer
    target: FakeKubeServer
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def add_local_location(self, name: str, subdir: str = "store") -> dict[str, Any]:
        path = self.tmp / subdir
        return await self.ok(
            "POST", "/api/v1/storage-locations", 201, json={"name": name, "type": "local", "path": str(path)}
        )

    async def wait_for(self, path: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll a backup/restore through the API until it leaves New/InProgress."""
        deadline = time.monotonic() + timeout
        while True:
            record = await self.ok("GET", path)
            if record["phase"] in FINISHED:
                return record
            assert time.monotonic() < deadline, f"{path} still {record['phase']} after {timeout}s"
            await asyncio.sleep(0.05)

    async def backup(self, location: str, **body: Any) -> dict[str, Any]:
        """Start a backup of the source cluster and wait for it."""
        started = await self.ok(
            "POST", "/api/v1/backups", 202, json={"cluster": self.src, "storage_location": location, **body}
        )
        assert started["phase"] in ("New", "InProgress")
        return await self.wait_for(f"/api/v1/backups/{started['id']}")

    async def restore(self, **body: Any) -> dict[str, Any]:
        started = await self.ok("POST", "/api/v1/restores", 202, json=body)
        return await self.wait_for(f"/api/v1/restores/{started['id']}")


def clusters_file(tmp: Path, clusters: dict[str, FakeKubeServer]) -> Path:
    path = tmp / "clusters.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": {
                    name: {"kubeconfig": str(server.kubeconfig), "context": server.context}
                    for name, server in clusters.items()
                }
            }
        )
    )
    return path


def aegis_settings(settings: PlatformSettings, tmp: Path, clusters: Path, **overrides: Any) -> AegisSettings:
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "oco_aegis_clusters": clusters,
        "oco_aegis_scheduler_enabled": False,  # tests call scheduler.tick() themselves
        "oco_aegis_progress_interval_s": 0.1,
        "oco_aegis_work_dir": work,
        "oco_aegis_cluster_check_timeout_s": 2.0,
        **overrides,
    }
    return AegisSettings(_env_file=None, **{**settings.model_dump(), **values})


async def start_env(
    settings: PlatformSettings,
    serve_app: Callable[[FastAPI], Awaitable[httpx.AsyncClient]],
    keystore: KeyStore,
    unique: Callable[[str], str],
    tmp: Path,
    source: FakeKubeServer,
    target: FakeKubeServer,
    **overrides: Any,
) -> AegisEnv:
    src, dr = unique("src"), unique("dr")
    config = aegis_settings(settings, tmp, clusters_file(tmp, {src: source, dr: target}), **overrides)
    app = create_app(config)
    client = await serve_app(app)
    key = await keystore.create(unique("aegis"), ["aegis"])
    return AegisEnv(
        app=app,
        client=client,
        headers={"X-API-Key": key.plaintext},
        settings=config,
        src=src,
        dr=dr,
        source=source,
        target=target,
        tmp=tmp,
    )
