"""The /v1 gateway in cerebra's OpenAPI document (paths, methods, security, OpenAI's body shapes, errors),
while the hot path itself stays outside FastAPI routing."""

from __future__ import annotations

import httpx
import openai
import pytest

from cerebra.app import create_app
from cerebra.settings import CerebraSettings

OPERATIONS = {
    ("/v1/chat/completions", "post"),
    ("/v1/embeddings", "post"),
    ("/v1/models", "get"),
    ("/v1/models/{model}", "get"),
    ("/v1/messages", "post"),
    ("/v1/messages/count_tokens", "post"),
    ("/v1/responses", "post"),
    ("/v1/responses/{response_id}", "get"),
    ("/v1/responses/{response_id}", "delete"),
    ("/v1/responses/{response_id}/input_items", "get"),
    *((f"/v1/{p}/{{path}}", m) for p in ("openai", "anthropic", "gemini") for m in ("get", "post")),
}


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


@pytest.fixture
async def spec(default_gateway) -> dict:  # type: ignore[no-untyped-def]
    server = default_gateway()
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/openapi.json")  # unauthenticated, as DESIGN.md section 3 says
    assert response.status_code == 200
    return response.json()


async def test_openapi_lists_the_gateway_operations_with_security(spec) -> None:  # type: ignore[no-untyped-def]
    listed = {
        (path, method) for path, item in spec["paths"].items() for method in item if path.startswith("/v1/")
    }
    assert listed == OPERATIONS
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    for path, method in OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation["summary"] and operation["operationId"], path
        names = {name for requirement in operation["security"] for name in requirement}
        assert {"APIKeyHeader", "HTTPBearer"} <= names, path
        assert {"401", "403"} <= set(operation["responses"]), path
    ids = [spec["paths"][p][m]["operationId"] for p, m in OPERATIONS]
    assert len(set(ids)) == len(ids)


async def test_openapi_bodies_are_openai_shapes(spec) -> None:  # type: ignore[no-untyped-def]
    schemas = spec["components"]["schemas"]
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CreateChatCompletionRequest"
    )
    answers = chat["responses"]["200"]["content"]
    assert answers["application/json"]["schema"]["$ref"].endswith("/CreateChatCompletionResponse")
    assert answers["text/event-stream"]["schema"]["$ref"].endswith("/CreateChatCompletionStreamResponse")
    assert {"400", "404", "413", "429", "502", "503", "504"} <= set(chat["responses"])
    assert chat["responses"]["502"]["content"]["application/json"]["schema"]["$ref"].endswith("/GatewayError")
    assert schemas["CreateChatCompletionRequest"]["required"] == ["model", "messages"]
    assert schemas["CreateEmbeddingRequest"]["required"] == ["model", "input"]
    assert "dimensions" in schemas["CreateEmbeddingRequest"]["properties"]
    assert schemas["CreateChatCompletionStreamResponse"]["properties"]["object"]["enum"] == [
        "chat.completion.chunk"
    ]
    assert schemas["ListModelsResponse"]["properties"]["data"]["items"]["$ref"].endswith("/Model")
    assert set(schemas["GatewayError"]["properties"]["error"]["required"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    for reference in _refs(spec):  # every reference resolves
        assert reference.removeprefix("#/components/schemas/") in schemas, reference


async def test_openapi_document_is_valid(spec) -> None:  # type: ignore[no-untyped-def]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


async def test_hot_path_stays_outside_fastapi_routing(default_gateway, settings, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    app = create_app(CerebraSettings(_env_file=None, **{**settings.model_dump(), "oco_cerebra_routes": None}))
    assert app.openapi()["paths"]["/v1/models"]  # documented...
    assert not [r for r in app.api.routes if getattr(r, "path", "").startswith("/v1")]  # ...but not routed
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.api), base_url="http://api") as http:
        assert (await http.get("/v1/models")).status_code == 404  # FastAPI alone knows no /v1 route
    server = default_gateway()
    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.get("/openapi.json")  # building the document adds no route
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    assert sdk.chat.completions.create(model="demo", messages=[{"role": "user", "content": "x"}]).choices
    async with httpx.AsyncClient(base_url=server.url) as http:
        metrics = (await http.get("/metrics")).text
    labelled = [line for line in metrics.splitlines() if line.startswith("oco_http_requests_total{")]
    assert any('route="/v1/chat/completions"' in line and 'service="cerebra"' in line for line in labelled)


async def test_every_documented_gateway_operation_requires_a_cerebra_key(
    default_gateway, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    other = (await keystore.create(unique("economist"), ["economist"])).plaintext
    server = default_gateway()
    async with httpx.AsyncClient(base_url=server.url) as http:
        spec = (await http.get("/openapi.json")).json()
        for path, method in sorted(OPERATIONS):
            assert "security" in spec["paths"][path][method]
            url = path.replace("{model}", "demo").replace("{path}", "v1/messages")
            anonymous = await http.request(method.upper(), url, json={"model": "demo"})
            assert anonymous.status_code == 401, (method, path)
            wrong_scope = await http.request(
                method.upper(), url, json={"model": "demo"}, headers={"X-API-Key": other}
            )
            assert wrong_scope.status_code == 403, (method, path)
