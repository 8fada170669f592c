"""Hardening (issue #16, finding 3): an S3 location's endpoint_url may not point at the metadata service,
loopback or a private network unless OCO_AEGIS_S3_ENDPOINT_ALLOW names it: refused (422, the URL not
echoed) before the probe sends any signed request there, and re-checked when a backup uses it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from oco.netguard import AddressPolicy
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.test_api_errors import _error


@pytest.fixture
def listener() -> Iterator[dict]:
    """A loopback TCP listener that counts connections (what a probe's signed request would reach)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    state = {"port": server.getsockname()[1], "connections": 0, "stop": False}

    def accept() -> None:
        while not state["stop"]:
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            state["connections"] += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield state
    state["stop"] = True
    thread.join(2)
    server.close()


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube) -> AegisEnv:  # type: ignore[no-untyped-def]
    return await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)


async def test_internal_endpoints_are_refused_before_any_request(env: AegisEnv, unique, listener) -> None:  # type: ignore[no-untyped-def]
    for endpoint in (
        "http://169.254.169.254",
        "http://[fd00:ec2::254]",
        f"http://127.0.0.1:{listener['port']}",
        f"http://localhost:{listener['port']}",
        "http://10.0.0.5:9000",
    ):
        body = {"name": unique("s3"), "type": "s3", "bucket": "bkt", "endpoint_url": endpoint}
        error = _error(
            await env.call("POST", "/api/v1/storage-locations", json=body),
            422,
            code="endpoint_not_allowed",
            param="endpoint_url",
        )
        assert "OCO_AEGIS_S3_ENDPOINT_ALLOW" in error["message"]
        assert endpoint.split("//")[1].strip("[]").split("]")[0].rsplit(":", 1)[0] not in error["message"]
    assert listener["connections"] == 0  # no signed probe request reached the listener


async def test_allowed_endpoint_is_used_and_rechecked_at_use(
    settings, serve_app, keystore, unique, tmp_path, kube, target_kube, moto_endpoint, s3_bucket
) -> None:  # type: ignore[no-untyped-def]
    env = await start_env(
        settings, serve_app, keystore, unique, tmp_path, kube, target_kube,
        oco_aegis_s3_endpoint_allow="127.0.0.1",
    )  # fmt: skip
    name = unique("s3")
    body = {
        "name": name,
        "type": "s3",
        "bucket": s3_bucket,
        "region": "us-east-1",
        "endpoint_url": moto_endpoint,
    }
    await env.ok("POST", "/api/v1/storage-locations", 201, json=body)
    # the operator removes loopback from the allow-list (or the name now resolves elsewhere): refused at use
    env.app.state.locations.s3_endpoints = AddressPolicy(setting="OCO_AEGIS_S3_ENDPOINT_ALLOW")
    error = _error(
        await env.call("POST", "/api/v1/backups", json={"cluster": env.src, "storage_location": name}),
        422,
        code="endpoint_not_allowed",
        param="storage_location",
    )
    assert name in error["message"] and moto_endpoint not in error["message"]
