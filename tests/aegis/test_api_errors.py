"""Refusals of the aegis API: 401/404/409/422/400 in the platform's one error shape, with the field named."""

from __future__ import annotations

import pytest

from tests.aegis.api_env import AegisEnv, start_env


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube) -> AegisEnv:  # type: ignore[no-untyped-def]
    return await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)


def _error(response, status: int, *, code: str | None = None, param: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    return error


async def test_not_found_answers(env: AegisEnv) -> None:
    for path in (
        "/api/v1/backups/999999999",
        "/api/v1/backups/999999999/contents",
        "/api/v1/backups/999999999/download",
        "/api/v1/restores/999999999",
        "/api/v1/schedules/999999999",
        "/api/v1/storage-locations/no-such-location",
    ):
        _error(await env.call("GET", path), 404, code="not_found")
    _error(await env.call("DELETE", "/api/v1/backups/999999999"), 404)
    _error(await env.call("DELETE", "/api/v1/schedules/999999999"), 404)
    _error(await env.call("DELETE", "/api/v1/storage-locations/no-such-location"), 404)
    _error(await env.call("PATCH", "/api/v1/schedules/999999999", json={"enabled": False}), 404)


async def test_auth_is_required(env: AegisEnv, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    _error(await env.client.get("/api/v1/backups"), 401)
    other = await keystore.create(unique("economist-only"), ["economist"])
    _error(await env.client.get("/api/v1/clusters", headers={"X-API-Key": other.plaintext}), 403)


async def test_invalid_bodies_name_the_field(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    await env.add_local_location(location)
    base = {"cluster": env.src, "storage_location": location}

    cases = [
        ({**base, "cluster": "nowhere"}, "cluster", "unknown_cluster"),
        ({**base, "storage_location": "nowhere"}, "storage_location", "unknown_location"),
        ({**base, "label_selector": "app in (web"}, "label_selector", None),
        ({**base, "include_cluster_resources": "sometimes"}, None, None),
        ({**base, "ttl_hours": -1}, "ttl_hours", None),
        ({**base, "name": "Not_A_DNS_Label"}, "name", None),
        ({**base, "surprise": 1}, "surprise", None),
    ]
    for body, param, code in cases:
        error = _error(await env.call("POST", "/api/v1/backups", json=body), 422, code=code)
        if param:
            assert error["param"] == param or error["param"].startswith(param), (body, error)

    _error(await env.call("POST", "/api/v1/restores", json={"backup_id": 999999999}), 422, param="backup_id")
    _error(
        await env.call(
            "POST", "/api/v1/restores", json={"backup_id": 1, "namespace_mapping": {"a": "x", "b": "x"}}
        ),
        422,
        param="namespace_mapping",
    )
    _error(
        await env.call(
            "POST", "/api/v1/restores", json={"backup_id": 1, "existing_resource_policy": "merge"}
        ),
        422,
        param="existing_resource_policy",
    )
    _error(await env.call("GET", "/api/v1/backups", params={"phase": "Running"}), 422, param="phase")


async def test_storage_locations_are_validated(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("disk")
    await env.add_local_location(name)
    _error(
        await env.call(
            "POST",
            "/api/v1/storage-locations",
            json={"name": name, "type": "local", "path": str(env.tmp / "x")},
        ),
        409,
        code="already_exists",
    )
    # Credentials are never accepted (they come from the service's environment).
    _error(
        await env.call(
            "POST",
            "/api/v1/storage-locations",
            json={"name": unique("s3"), "type": "s3", "bucket": "bkt", "aws_secret_access_key": "x"},
        ),
        422,
        param="aws_secret_access_key",
    )
    _error(
        await env.call("POST", "/api/v1/storage-locations", json={"name": unique("l"), "type": "local"}), 422
    )
    _error(
        await env.call(
            "POST",
            "/api/v1/storage-locations",
            json={"name": unique("l"), "type": "local", "path": "/tmp", "bucket": "b"},
        ),
        422,
    )
    # Credentials in the endpoint URL are refused, and never echoed back or stored.
    for url in ("http://user:s3cr3t-value@127.0.0.1:9000", "http://user@127.0.0.1:9000", "ftp://127.0.0.1"):
        response = await env.call(
            "POST",
            "/api/v1/storage-locations",
            json={"name": unique("s3"), "type": "s3", "bucket": "bkt", "endpoint_url": url},
        )
        _error(response, 422, param="endpoint_url")
        assert "s3cr3t-value" not in response.text
    listed = await env.ok("GET", "/api/v1/storage-locations")
    assert "s3cr3t-value" not in str(listed)
    # The probe leaves nothing behind in a local location: no object, no `.aegis-probe/` directory.
    assert [p.name for p in (env.tmp / "store").iterdir()] == []
    # The probe's own error when the location cannot be written.
    blocker = env.tmp / "a-file"
    blocker.write_text("not a directory")
    error = _error(
        await env.call(
            "POST",
            "/api/v1/storage-locations",
            json={"name": unique("bad"), "type": "local", "path": str(blocker / "sub")},
        ),
        400,
    )
    assert error["code"] == "probe_failed" and "Not a directory" in error["message"]


async def test_schedule_validation_names_the_field(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    await env.add_local_location(location)
    base = {"name": unique("nightly"), "cluster": env.src, "storage_location": location, "cron": "0 2 * * *"}
    for body, param in (
        ({**base, "cron": "0 2 * *"}, "cron"),
        ({**base, "cron": "0 0 2 * * *"}, "cron"),
        ({**base, "cron": "61 2 * * *"}, "cron"),
        ({**base, "timezone": "Mars/Olympus"}, "timezone"),
        ({**base, "keep_last": 0}, "keep_last"),
        ({**base, "cluster": "nowhere"}, "cluster"),
    ):
        error = _error(await env.call("POST", "/api/v1/schedules", json=body), 422, param=param)
        assert error["message"]
    created = await env.ok("POST", "/api/v1/schedules", 201, json=base)
    _error(await env.call("POST", "/api/v1/schedules", json=base), 409, code="already_exists")
    _error(
        await env.call("PATCH", f"/api/v1/schedules/{created['id']}", json={"cron": "bad"}), 422, param="cron"
    )
    _error(await env.call("DELETE", f"/api/v1/storage-locations/{location}"), 409, code="location_in_use")


async def test_out_of_range_ids_are_422_not_500(env: AegisEnv) -> None:
    huge = "99999999999999999999999"
    for path in (
        f"/api/v1/backups/{huge}",
        f"/api/v1/restores/{huge}",
        f"/api/v1/schedules/{huge}",
        "/api/v1/backups/0",
    ):
        _error(await env.call("GET", path), 422, param="backup_id" if "backups" in path else None)
    _error(
        await env.call("POST", "/api/v1/restores", json={"backup_id": int(huge), "cluster": "x"}),
        422,
        param="backup_id",
    )


async def test_local_locations_must_be_under_the_allowed_roots(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path, kube, target_kube
) -> None:
    allowed, other = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    other.mkdir()
    (allowed / "escape").symlink_to(other)
    env = await start_env(
        settings,
        serve_app,
        keystore,
        unique,
        tmp_path,
        kube,
        target_kube,
        oco_aegis_local_roots=f" {tmp_path / 'unused'} ,{allowed}",
    )
    created = await env.ok(
        "POST",
        "/api/v1/storage-locations",
        201,
        json={"name": unique("disk"), "type": "local", "path": str(allowed / "aegis")},
    )
    assert created["path"] == str(allowed / "aegis")
    for path in (
        str(other),
        str(allowed / ".." / "elsewhere"),
        str(allowed / "escape" / "x"),
        "relative/dir",
    ):
        name = unique("disk")
        _error(
            await env.call(
                "POST", "/api/v1/storage-locations", json={"name": name, "type": "local", "path": path}
            ),
            422,
            code="path_not_allowed",
            param="path",
        )
        assert (await env.call("GET", f"/api/v1/storage-locations/{name}")).status_code == 404
    assert not any(other.iterdir())  # nothing was probed there
