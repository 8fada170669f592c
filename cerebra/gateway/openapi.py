"""The /v1 operations in the app's OpenAPI document. The hot path is dispatched by the bare ASGI gateway,
never by FastAPI routing, so its operations are written here and merged in once, when the document is built."""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI

from cerebra.dialects.responses import openapi as responses_openapi
from cerebra.gateway.openapi_schemas import SCHEMAS, ref

TAG = "gateway (/v1)"
SECURITY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "an OCO key, as the official SDKs send it",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
GEMINI_SECURITY = [
    *SECURITY,
    {"GoogApiKeyHeader": []},
    {"GoogApiKeyQuery": []},
]
GEMINI_SCHEMES = {
    "GoogApiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
    "GoogApiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
}

_OCO_HEADERS = {
    "x-oco-provider": {"description": "provider that answered", "schema": {"type": "string"}},
    "x-oco-model": {"description": "provider model that answered", "schema": {"type": "string"}},
    "x-oco-attempts": {"description": "deployments tried", "schema": {"type": "integer"}},
    "x-oco-overhead-ms": {"description": "time spent in cerebra itself", "schema": {"type": "string"}},
    "x-request-id": {"description": "request id (also in the request log)", "schema": {"type": "string"}},
}

_ERRORS = {
    "400": "invalid request (bad JSON, a missing field, no deployment able to take it), or the provider's 400",
    "401": "missing or invalid API key",
    "403": "the key lacks the `cerebra` scope, or is bound to another team (X-Team-ID)",
    "404": "unknown model alias (`model_not_found`), or the provider's 404 for the deployment's model",
    "413": "request body larger than OCO_CEREBRA_MAX_BODY_BYTES",
    "429": "every deployment of the model is rate limited (Retry-After)",
    "502": "every deployment failed (`attempts` says why: upstream errors, a refused or unset provider key)",
    "503": "every deployment is cooling down (Retry-After)",
    "504": "the upstream did not answer before the deadline",
}


def _errors(*statuses: str) -> dict[str, Any]:
    content = {"application/json": {"schema": ref("GatewayError")}}
    return {status: {"description": _ERRORS[status], "content": content} for status in statuses}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _OCO_HEADERS,
        "content": {"application/json": {"schema": ref(schema)}},
    }


_CALL_ERRORS = ("400", "401", "403", "404", "413", "429", "502", "503", "504")
_HEADER_PARAMS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("X-Team-ID", "team the call is attributed to (a team-bound key cannot claim another)"),
        ("X-Agent-ID", "agent label for attribution"),
        ("X-Org-ID", "organization label for attribution"),
    )
]


_CACHE_PARAMS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        (
            "Cache-Control",
            "`no-cache`: do not answer from the response cache; `no-store`: do not store this answer",
        ),
        (
            "x-oco-cache-ttl",
            "seconds the answer stays in the response cache (0: not stored); on a route without `cache:` it "
            "makes this call cacheable in the key's own scope",
        ),
    )
]
_CHAT_HEADERS = {
    **_OCO_HEADERS,
    "x-oco-cache": {
        "description": "on a cacheable call: `hit` (answered from the cache, no provider called, $0), `miss`, "
        "or `skip` (not read: `no-cache`, or a sampled request on a route without `temperature_ok`)",
        "schema": {"type": "string", "enum": ["hit", "miss", "skip"]},
    },
}


def _native(provider: str, what: str) -> dict[str, Any]:
    operation = {
        "tags": [TAG],
        "description": f"{what} Only inference endpoints are served (others: 404). The caller's OCO key is "
        "replaced by the gateway's provider key; the body is forwarded as-is except for `model`, which may "
        "be a cerebra alias. The provider's own answers and errors come back unchanged.",
        "security": GEMINI_SECURITY if provider == "gemini" else SECURITY,
        "parameters": [
            {
                "name": "path",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "the provider's own path (may contain slashes)",
            },
            *_HEADER_PARAMS,
        ],
        "responses": {
            "200": {
                "description": "the provider's answer (JSON or its stream format)",
                "headers": _OCO_HEADERS,
            },
            **_errors("401", "403", "404", "413", "502", "503", "504"),
        },
    }
    label = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Gemini"}[provider]
    return {
        method: {
            **operation,
            "summary": f"{label} native API ({method.upper()})",
            "operationId": f"native{label}{method.title()}",
        }
        for method in ("get", "post")
    }


PATHS: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "post": {
            "tags": [TAG],
            "summary": "Create a chat completion (OpenAI-compatible)",
            "operationId": "createChatCompletion",
            "description": "Routed by `model` (an alias) to its deployments, with retries and fallbacks. With "
            "`stream: true` the answer is server-sent events of chat.completion.chunk objects ending in "
            '`data: [DONE]`; an upstream failure mid-stream arrives as a `data: {"error": ...}` event. '
            "On an alias with `cache:` an identical request is answered from the response cache (`x-oco-cache`).",
            "security": SECURITY,
            "parameters": [*_HEADER_PARAMS, *_CACHE_PARAMS],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("CreateChatCompletionRequest")}},
            },
            "responses": {
                "200": {
                    "description": "the completion (JSON), or its stream (text/event-stream)",
                    "headers": _CHAT_HEADERS,
                    "content": {
                        "application/json": {"schema": ref("CreateChatCompletionResponse")},
                        "text/event-stream": {"schema": ref("CreateChatCompletionStreamResponse")},
                    },
                },
                **_errors(*_CALL_ERRORS),
            },
        }
    },
    "/v1/embeddings": {
        "post": {
            "tags": [TAG],
            "summary": "Create embeddings (OpenAI-compatible)",
            "operationId": "createEmbedding",
            "security": SECURITY,
            "parameters": _HEADER_PARAMS,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("CreateEmbeddingRequest")}},
            },
            "responses": {
                "200": _json("CreateEmbeddingResponse", "the embeddings"),
                **_errors(*_CALL_ERRORS),
            },
        }
    },
    "/v1/models": {
        "get": {
            "tags": [TAG],
            "summary": "List the model aliases this gateway serves",
            "operationId": "listModels",
            "security": SECURITY,
            "responses": {
                "200": {
                    "description": "the aliases of the route table (plus `auto`)",
                    "content": {"application/json": {"schema": ref("ListModelsResponse")}},
                },
                **_errors("401", "403"),
            },
        }
    },
    "/v1/models/{model}": {
        "get": {
            "tags": [TAG],
            "summary": "Retrieve one model alias",
            "operationId": "retrieveModel",
            "security": SECURITY,
            "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "the alias",
                    "content": {"application/json": {"schema": ref("Model")}},
                },
                **_errors("401", "403", "404"),
            },
        }
    },
    "/v1/openai/{path}": _native(
        "openai", "OpenAI's own API (e.g. chat/completions, responses, embeddings)."
    ),
    "/v1/anthropic/{path}": _native(
        "anthropic", "Anthropic's Messages API (v1/messages, v1/messages/count_tokens)."
    ),
    "/v1/gemini/{path}": _native(
        "gemini", "Google's Gemini API (v1beta/models/{model}:generateContent, :streamGenerateContent, ...)."
    ),
}


# ------------------------------------------------------------------ the Anthropic Messages dialect
_ANTHROPIC_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("anthropic-version", "accepted; forwarded to Anthropic deployments as sent"),
        ("anthropic-beta", "accepted; forwarded to Anthropic deployments as sent"),
    )
]


def _anthropic_errors(*statuses: str) -> dict[str, Any]:
    content = {"application/json": {"schema": ref("AnthropicError")}}
    return {status: {"description": _ERRORS[status], "content": content} for status in statuses}


ANTHROPIC_PATHS: dict[str, dict[str, Any]] = {
    "/v1/messages": {
        "post": {
            "tags": [TAG],
            "summary": "Create a message (Anthropic Messages API, any alias)",
            "operationId": "createAnthropicMessage",
            "description": "What the Anthropic SDK (base_url = cerebra's root) and Claude Code "
            "(ANTHROPIC_BASE_URL) call. An alias's Anthropic deployments get the body byte for byte (but the "
            "model name); others get it translated to their API and the answer translated back, streams "
            "event by event. What could not be sent is named in `x-oco-dropped`. Errors in Anthropic's shape.",
            "security": SECURITY,
            "parameters": [*_HEADER_PARAMS, *_ANTHROPIC_HEADERS],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("AnthropicMessagesRequest")}},
            },
            "responses": {
                "200": {
                    "description": "the message (JSON), or its event stream (text/event-stream)",
                    "headers": {
                        **_OCO_HEADERS,
                        "x-oco-dropped": {
                            "description": "what a non-Anthropic target could not take (e.g. cache_control, "
                            "top_k, thinking blocks)",
                            "schema": {"type": "string"},
                        },
                    },
                    "content": {
                        "application/json": {"schema": ref("AnthropicMessage")},
                        "text/event-stream": {"schema": ref("AnthropicStreamEvent")},
                    },
                },
                **_anthropic_errors(*_CALL_ERRORS),
            },
        }
    },
    "/v1/messages/count_tokens": {
        "post": {
            "tags": [TAG],
            "summary": "Count a message's input tokens (Anthropic's count, or an estimate)",
            "operationId": "countAnthropicMessageTokens",
            "description": "Anthropic's own count when the alias's first deployment is Anthropic's; otherwise "
            "an estimate (about 4 characters a token, 1,600 per image) marked `x-oco-token-count: estimate`.",
            "security": SECURITY,
            "parameters": [*_HEADER_PARAMS, *_ANTHROPIC_HEADERS],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("AnthropicMessagesRequest")}},
            },
            "responses": {
                "200": {
                    "description": "the count",
                    "content": {"application/json": {"schema": ref("AnthropicCountTokensResponse")}},
                },
                **_anthropic_errors("400", "401", "403", "404", "413", "502", "503", "504"),
            },
        }
    },
}
PATHS.update(ANTHROPIC_PATHS)
_models = PATHS["/v1/models"]["get"]
_models["description"] = (
    "With an `anthropic-version` header (the Anthropic SDK sends one) the list is in Anthropic's shape "
    "(`data`, `has_more`, `first_id`, `last_id`; `limit`, `after_id`, `before_id`)."
)
_models["parameters"] = [
    _ANTHROPIC_HEADERS[0],
    *(
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in (
            ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}),
            ("after_id", {"type": "string"}),
            ("before_id", {"type": "string"}),
        )
    ),
]
_models["responses"]["200"]["content"]["application/json"]["schema"] = {
    "oneOf": [ref("ListModelsResponse"), ref("AnthropicModelList")]
}


# -- the OpenAI Responses dialect (cerebra/dialects/responses) -----------------------------------------
PATHS.update(responses_openapi.paths(TAG, SECURITY, _HEADER_PARAMS, _errors, _OCO_HEADERS))
DIALECT_SCHEMAS = {**responses_openapi.SCHEMAS}


def add_gateway_operations(schema: dict[str, Any]) -> dict[str, Any]:
    """Merge the /v1 paths, their schemas and security schemes into an OpenAPI document (in place)."""
    schema.setdefault("paths", {}).update(PATHS)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components["schemas"].update(DIALECT_SCHEMAS)
    schemes = components.setdefault("securitySchemes", {})
    for name, scheme in {**SECURITY_SCHEMES, **GEMINI_SCHEMES}.items():
        schemes.setdefault(name, scheme)
    tags = schema.setdefault("tags", [])
    if not any(t.get("name") == TAG for t in tags):
        tags.append(
            {"name": TAG, "description": "the LLM gateway: served outside FastAPI routing, documented here"}
        )
    return schema


def install_gateway_openapi(api: FastAPI) -> None:
    """Make `api.openapi()` (and so /openapi.json and /docs) include the /v1 operations; built once."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            add_gateway_operations(build())
        return cast("dict[str, Any]", api.openapi_schema)  # build() set it

    api.openapi = openapi  # type: ignore[method-assign]
