"""Hardening (issue #16, findings 1 and 4): storage-location input that once crashed (a region botocore
refuses, a NUL in a path) is a 422 naming the field; local locations live under OCO_AEGIS_LOCAL_ROOTS
(by default the data directory), are stored as absolute resolved paths, and are re-checked at use."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from aegis.locations.tables import storage_locations
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.test_api_errors import _error


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube) -> AegisEnv:  # type: ignore[no-untyped-def]
    return await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)


async def test_region_botocore_refuses_is_422(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    for region in ("é", "us east 1", "-us-east-1", "a" * 64):
        body = {"name": unique("s3"), "type": "s3", "bucket": "some-bucket", "region": region}
        _error(await env.call("POST", "/api/v1/storage-locations", json=body), 422, param="region")


async def test_control_characters_in_a_local_path_are_422(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    for path in (str(env.tmp / "a\x00b"), str(env.tmp / "line\nbreak")):
        body = {"name": unique("disk"), "type": "local", "path": path}
        error = _error(await env.call("POST", "/api/v1/storage-locations", json=body), 422, param="path")
        assert "\x00" not in error["message"]


async def test_default_roots_are_the_data_directory(env: AegisEnv, unique, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    assert env.settings.oco_aegis_local_roots is None
    assert env.settings.local_roots() == [env.settings.oco_data_dir.resolve()]
    outside = tmp_path_factory.mktemp("outside")
    for path in ("../../etc", "/etc", str(outside), str(env.tmp / ".." / "sideways")):
        body = {"name": unique("disk"), "type": "local", "path": path}
        _error(
            await env.call("POST", "/api/v1/storage-locations", json=body),
            422,
            code="path_not_allowed",
            param="path",
        )
    assert not any(outside.iterdir())  # refused before any probe wrote there


async def test_paths_are_stored_absolute_and_resolved(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    (env.tmp / "real").mkdir()
    (env.tmp / "link").symlink_to(env.tmp / "real")
    created = await env.ok(
        "POST",
        "/api/v1/storage-locations",
        201,
        json={"name": unique("disk"), "type": "local", "path": str(env.tmp / "link" / "." / "store")},
    )
    assert created["path"] == str((env.tmp / "real" / "store").resolve())


async def test_a_location_outside_todays_roots_fails_clearly_at_use(
    env: AegisEnv, unique, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    """A row written before the roots changed (here: straight into the table) is refused when a backup or
    schedule names it, and a run that reaches it fails with the reason instead of writing there."""
    outside = tmp_path_factory.mktemp("old-location")
    name = unique("old")
    async with env.app.state.database.engine.begin() as conn:
        await conn.execute(
            sa.insert(storage_locations).values(
                name=name, type="local", config={"path": str(outside)}, created_by="test",
                created_at=sa.func.now(),
            )
        )  # fmt: skip
    error = _error(
        await env.call("POST", "/api/v1/backups", json={"cluster": env.src, "storage_location": name}),
        422,
        code="path_not_allowed",
        param="storage_location",
    )
    assert name in error["message"] and str(outside) not in error["message"]
    schedule = {"name": unique("nightly"), "cluster": env.src, "storage_location": name, "cron": "0 3 * * *"}
    _error(await env.call("POST", "/api/v1/schedules", json=schedule), 422, code="path_not_allowed")
    row = await env.app.state.locations.get(name)
    with pytest.raises(Exception, match="OCO_AEGIS_LOCAL_ROOTS"):
        env.app.state.locations.backend(row)
    assert not any(outside.iterdir())


async def test_relative_paths_stored_before_are_made_absolute_at_start(
    env: AegisEnv, unique, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(env.tmp)
    name = unique("relative")
    async with env.app.state.database.engine.begin() as conn:
        await conn.execute(
            sa.insert(storage_locations).values(
                name=name, type="local", config={"path": "store-rel"}, created_by="test",
                created_at=sa.func.now(),
            )
        )  # fmt: skip
    assert await env.app.state.locations.absolutize_local_paths() >= 1
    row = await env.app.state.locations.get(name)
    assert row["config"]["path"] == str((env.tmp / "store-rel").resolve())
    env.app.state.locations.check_usable(row)  # inside the data directory: usable
