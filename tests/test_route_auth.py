"""Every route of every service, walked from its OpenAPI document (plus cerebra's /v1 gateway routes,
which bypass FastAPI): 401 without a key, 403 with a key of another service's scope, and the key is
checked before the body is read (a malformed body without a key is a 401, not a 422)."""

from __future__ import annotations

import importlib
import re

import pytest

#: the documented unauthenticated routes (DESIGN.md section 3); /docs and its assets are not in the spec
UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}
#: whose key each service is walked with for the 403: another service's scope
OTHER_SCOPE = {"cerebra": "economist", "economist": "aegis", "aegis": "cerebra"}
#: cerebra's gateway: OpenAI-compatible routes and the native provider prefixes
CEREBRA_V1 = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/some-model"),
    ("POST", "/v1/openai/chat/completions"),
    ("POST", "/v1/anthropic/v1/messages"),
    ("POST", "/v1/gemini/v1beta/models/some-model:generateContent"),
]
MALFORMED_JSON = b'{"not": json'


def _fill(path: str, operation: dict) -> str:
    """The path with dummy values for its parameters (1 for integers, "x" for strings)."""
    kinds = {
        p["name"]: p.get("schema", {}).get("type")
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    }
    return re.sub(r"\{([^}]+)\}", lambda m: "1" if kinds.get(m.group(1)) == "integer" else "x", path)


def _operations(spec: dict) -> list[tuple[str, str, bool]]:
    """(method, filled path, takes a JSON body) of every operation in the spec."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            found.append((method.upper(), _fill(path, operation), "application/json" in content))
    return found


@pytest.mark.parametrize("service", sorted(OTHER_SCOPE))
async def test_every_route_needs_a_key_of_its_scope(service, settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    spec = (await client.get("/openapi.json")).json()
    other = (await keystore.create(unique(f"other-{service}"), [OTHER_SCOPE[service]])).plaintext
    own = (await keystore.create(unique(service), [service])).plaintext

    operations = _operations(spec)
    guarded = [op for op in operations if op[1] not in UNAUTHENTICATED]
    assert {path for _m, path, _b in operations} >= UNAUTHENTICATED | {"/api/v1/whoami"}
    if service == "cerebra":
        guarded += [(method, path, method == "POST") for method, path in CEREBRA_V1]
    else:
        assert len(guarded) >= 10, guarded  # the walk really covers the service's API

    for method, path, has_body in guarded:
        body = (
            {"content": MALFORMED_JSON, "headers": {"Content-Type": "application/json"}} if has_body else {}
        )
        headers = body.pop("headers", {})
        missing = await client.request(method, path, headers=headers, **body)
        assert missing.status_code == 401, (method, path, missing.status_code, missing.text)
        assert missing.json()["error"]["type"] == "authentication_error", (method, path)
        wrong = await client.request(method, path, headers={**headers, "X-API-Key": other}, **body)
        assert wrong.status_code == 403, (method, path, wrong.status_code, wrong.text)
        assert wrong.json()["error"]["type"] == "permission_error", (method, path)

    for path in sorted(UNAUTHENTICATED):
        assert (await client.get(path)).status_code in (200, 503), path
    assert (await client.get("/api/v1/whoami", headers={"X-API-Key": own})).status_code == 200


async def test_a_malformed_body_with_a_good_key_is_a_422_naming_the_body(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module("aegis.app").create_app(settings))
    key = (await keystore.create(unique("aegis"), ["aegis"])).plaintext
    response = await client.post(
        "/api/v1/schedules",
        content=MALFORMED_JSON,
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "body"
    assert "JSON decode error at position" in response.json()["error"]["message"]
