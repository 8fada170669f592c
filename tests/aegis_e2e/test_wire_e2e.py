"""aegis.kube.wire against a real kube-apiserver (Go's TLS and HTTP/1.1 server): one connection is kept
alive across requests, large list pages arrive whole, and server errors keep their Status body."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from aegis.kube.transport import KubeTransport, close_wire_pool
from aegis.kube.wire import WirePool

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e


def test_keep_alive_tls_big_pages_and_errors(kube_env: KubeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    connects: list[int] = []
    real_connect = WirePool._connect

    def counting(self: WirePool, timeout: float | None) -> Any:
        connects.append(1)
        return real_connect(self, timeout)

    monkeypatch.setattr(WirePool, "_connect", counting)
    api = kube_env.api_client()
    try:
        transport = KubeTransport(api)
        assert transport.wire is not None and transport.wire.scheme == "https"
        for _ in range(10):
            assert transport.get_json("/api/v1/namespaces/default")["metadata"]["name"] == "default"
        ns = f"wire-{uuid.uuid4().hex[:6]}"
        assert transport.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}}).status == 201
        payload = "x" * 20_000
        for i in range(40):  # 40 x 20 KB: the list below is one body of about 800 KB
            created = transport.request(
                "POST",
                f"/api/v1/namespaces/{ns}/configmaps",
                body={"metadata": {"name": f"cm-{i:02d}"}, "data": {"p": payload}},
            )
            assert created.status == 201, created.data[:200]
        listed = transport.get_json(f"/api/v1/namespaces/{ns}/configmaps")
        assert [o["metadata"]["name"] for o in listed["items"]] == [f"cm-{i:02d}" for i in range(40)]
        assert all(o["data"]["p"] == payload for o in listed["items"])

        again = transport.request(
            "POST", f"/api/v1/namespaces/{ns}/configmaps", body={"metadata": {"name": "cm-00"}}
        )
        assert again.status == 409 and again.json()["reason"] == "AlreadyExists"
        assert again.headers.get("Content-Type") == "application/json"

        assert len(connects) == 1  # one connection for all 53 requests, made sequentially
    finally:
        close_wire_pool(api)
        api.close()
