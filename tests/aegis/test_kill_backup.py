"""`kill -9` of aegis in the middle of a long backup: after a restart on the same database the backup is
Failed "interrupted", its staged archive is gone from the work directory, and storage holds no object
(neither under the backup's key nor a half-written temporary file)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx

from tests.aegis.api_env import clusters_file
from tests.aegis.fake_kube import FakeKubeServer
from tests.service_process import ServiceProcess, start_service

CONFIG_MAPS = 6000  # ~2 KB each: a backup that takes seconds, paced further by a slow list below
LIST_DELAY_S = 0.15  # every GET of the fake API server waits this long


def _slow_gets(kube: FakeKubeServer) -> None:
    handle = kube.fake.handle

    def slow(method: str, raw_path: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        if method == "GET" and "configmaps" in raw_path:
            time.sleep(LIST_DELAY_S)
        return handle(method, raw_path, headers, body)

    kube.fake.handle = slow  # type: ignore[method-assign]


def _env(tmp: Path, database_url: str, redis_url: str | None, clusters: Path) -> dict[str, str]:
    env = {
        "OCO_DATABASE_URL": database_url,
        "OCO_DATA_DIR": str(tmp / "data"),
        "OCO_AEGIS_CLUSTERS": str(clusters),
        "OCO_AEGIS_WORK_DIR": str(tmp / "work"),
        "OCO_AEGIS_LOCAL_ROOTS": str(tmp),
        "OCO_AEGIS_SCHEDULER_ENABLED": "false",
        "OCO_AEGIS_PROGRESS_INTERVAL_S": "0.1",
        "OCO_AEGIS_STALE_AFTER_S": "3",  # a killed owner's Redis lease expires this soon
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _staged(work: Path) -> list[Path]:
    return [p for p in work.rglob("aegis-backup-*") if p.is_file()]


def _stored(store: Path) -> list[Path]:
    return [p for p in store.rglob("*") if p.is_file()]


async def _until(check, timeout_s: float, what: str, service: ServiceProcess) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached in {timeout_s} s\n{service.output()[-4000:]}"
        await asyncio.sleep(0.05)


async def test_kill_9_mid_backup_leaves_no_archive_and_a_failed_record(
    tmp_path, database_url, redis_url, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    key = (await keystore.create(unique("aegis"), ["aegis"])).plaintext
    headers = {"X-API-Key": key}
    store, work = tmp_path / "store", tmp_path / "work"
    with FakeKubeServer(tmp_path) as kube:
        kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}})
        for n in range(CONFIG_MAPS):
            kube.fake.seed(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cm-{n:05d}", "namespace": "bulk"},
                    "data": {"blob": os.urandom(1024).hex()},
                }
            )
        _slow_gets(kube)
        env = _env(tmp_path, database_url, redis_url, clusters_file(tmp_path, {"src": kube}))
        first = start_service("aegis", tmp_path / "run", env, name="-first")
        try:
            with httpx.Client(base_url=first.url, headers=headers, timeout=10) as api:
                location = unique("disk")
                made = api.post(
                    "/api/v1/storage-locations", json={"name": location, "type": "local", "path": str(store)}
                )
                assert made.status_code == 201, made.text
                started = api.post("/api/v1/backups", json={"cluster": "src", "storage_location": location})
                assert started.status_code == 202, started.text
                backup_id = started.json()["id"]

                def running() -> dict | None:
                    record = api.get(f"/api/v1/backups/{backup_id}").json()
                    if record["phase"] == "InProgress" and record["items_done"] >= 500 and _staged(work):
                        return record
                    assert record["phase"] in ("New", "InProgress"), record
                    return None

                at_kill = await _until(running, 60, "a backup half way", first)
            staged_size = sum(p.stat().st_size for p in _staged(work))
            first.kill()
        finally:
            first.stop()
        assert at_kill["items_done"] < CONFIG_MAPS
        assert _staged(work), "the kill left no staged archive: the test proves nothing about its removal"
        print(
            f"\nkilled at {at_kill['items_done']} of {at_kill['items_total']} items, "
            f"{staged_size} bytes staged in {[p.name for p in _staged(work)]}"
        )

        second = start_service("aegis", tmp_path / "run", env, name="-second")
        try:
            with httpx.Client(base_url=second.url, headers=headers, timeout=10) as api:

                def failed() -> dict | None:
                    record = api.get(f"/api/v1/backups/{backup_id}").json()
                    return record if record["phase"] not in ("New", "InProgress") else None

                record = await _until(failed, 30, "the killed backup failed", second)
                await _until(lambda: not _staged(work), 15, "staged archive removed", second)
                assert (record["phase"], record["error"]) == ("Failed", "interrupted")
                assert record["finished_at"] is not None
                assert not _stored(store), f"storage holds {_stored(store)}"
                owners = [p.name for p in work.iterdir() if p.name.startswith("aegis-owner-")]
                assert len(owners) == 1, f"the killed process's staging directory is still there: {owners}"
        finally:
            second.stop()
        assert not list(work.iterdir()), (
            f"work directory not empty after a clean stop: {list(work.iterdir())}"
        )
