"""The /v1/responses operations and their body shapes (OpenAI's, trimmed to what cerebra reads and
writes) for the gateway's OpenAPI document; merged in by cerebra/gateway/openapi.py."""

from __future__ import annotations

from typing import Any

_STRING = {"type": "string"}
_INT = {"type": "integer"}
_OBJECT = {"type": "object", "additionalProperties": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, dict[str, Any]] = {
    "CreateResponseRequest": {
        "type": "object",
        "description": "OpenAI's Responses request. For an alias whose deployment is OpenAI it is forwarded as-is "
        "(built-in tools, `include`, `background` and the rest work as at OpenAI); for any other provider "
        "it is translated to chat, and what chat cannot carry (built-in tools, file inputs, item references, "
        "`background`, `conversation`, `prompt`) is a 400 naming the field. Reasoning items sent back are "
        "dropped for non-OpenAI providers.",
        "required": ["model"],
        "additionalProperties": True,
        "properties": {
            "model": {**_STRING, "description": "a cerebra alias, or a name a wildcard alias matches"},
            "input": {
                "oneOf": [_STRING, {"type": "array", "items": _OBJECT}],
                "description": "a string, or items: messages (input_text/input_image parts), function_call, "
                "function_call_output",
            },
            "instructions": _STRING,
            "tools": {"type": "array", "items": _OBJECT},
            "tool_choice": {"oneOf": [{"type": "string", "enum": ["auto", "none", "required"]}, _OBJECT]},
            "parallel_tool_calls": {"type": "boolean"},
            "text": {
                "type": "object",
                "properties": {
                    "format": {"type": "object", "description": "text, json_object or json_schema"}
                },
            },
            "max_output_tokens": {**_INT, "minimum": 1},
            "temperature": {"type": "number"},
            "top_p": {"type": "number"},
            "reasoning": {"type": "object", "properties": {"effort": _STRING, "summary": _STRING}},
            "metadata": {"type": "object", "additionalProperties": _STRING, "maxProperties": 16},
            "user": _STRING,
            "store": {
                "type": "boolean",
                "default": True,
                "description": "keep it for OCO_CEREBRA_RESPONSES_TTL_DAYS",
            },
            "previous_response_id": {
                **_STRING,
                "description": "continue a stored response of this key (any provider)",
            },
            "stream": {"type": "boolean", "default": False},
        },
    },
    "Response": {
        "type": "object",
        "description": "OpenAI's response object: `output` holds `reasoning` (with summary, when the provider "
        "gives reasoning text), `message` (output_text parts) and `function_call` items.",
        "required": ["id", "object", "created_at", "status", "model", "output"],
        "additionalProperties": True,
        "properties": {
            "id": _STRING,
            "object": {"type": "string", "enum": ["response"]},
            "created_at": _INT,
            "status": {"type": "string", "enum": ["completed", "incomplete", "failed", "in_progress"]},
            "incomplete_details": {
                "type": ["object", "null"],
                "properties": {"reason": {"type": "string", "enum": ["max_output_tokens", "content_filter"]}},
            },
            "error": {"type": ["object", "null"]},
            "model": _STRING,
            "output": {"type": "array", "items": _OBJECT},
            "previous_response_id": {"type": ["string", "null"]},
            "usage": {
                "type": ["object", "null"],
                "properties": {
                    "input_tokens": _INT,
                    "input_tokens_details": {"type": "object", "properties": {"cached_tokens": _INT}},
                    "output_tokens": _INT,
                    "output_tokens_details": {"type": "object", "properties": {"reasoning_tokens": _INT}},
                    "total_tokens": _INT,
                },
            },
        },
    },
    "ResponseStreamEvent": {
        "type": "object",
        "description": "One server-sent event (`event: <type>`): response.created, response.in_progress, "
        "response.output_item.added, response.content_part.added, response.output_text.delta/.done, "
        "response.reasoning_summary_*, response.function_call_arguments.delta/.done, "
        "response.content_part.done, response.output_item.done, then response.completed (or "
        "response.incomplete) with usage; error and response.failed when the upstream fails.",
        "required": ["type", "sequence_number"],
        "additionalProperties": True,
        "properties": {"type": _STRING, "sequence_number": _INT},
    },
    "ResponseItemList": {
        "type": "object",
        "required": ["object", "data", "has_more"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": _OBJECT},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
            "has_more": {"type": "boolean"},
        },
    },
    "DeletedResponse": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {
            "id": _STRING,
            "object": {"type": "string", "enum": ["response"]},
            "deleted": {"type": "boolean"},
        },
    },
}


def paths(tag: str, security: list, header_params: list, errors: Any, oco_headers: dict) -> dict[str, Any]:
    """The operations, built with the gateway document's shared pieces (tag, security, errors)."""
    id_param = {"name": "response_id", "in": "path", "required": True, "schema": _STRING}
    stored_note = "Stored responses are scoped to the key that created them: another key gets 404."
    return {
        "/v1/responses": {
            "post": {
                "tags": [tag],
                "summary": "Create a response (OpenAI Responses API, any provider)",
                "operationId": "createResponse",
                "description": "Routed by `model` like a chat completion (retries, fallbacks, pricing, the "
                "request log). With `stream: true`, server-sent Responses events, translated one by one.",
                "security": security,
                "parameters": header_params,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CreateResponseRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "the response (JSON), or its events (text/event-stream)",
                        "headers": oco_headers,
                        "content": {
                            "application/json": {"schema": _ref("Response")},
                            "text/event-stream": {"schema": _ref("ResponseStreamEvent")},
                        },
                    },
                    **errors("400", "401", "403", "404", "413", "429", "502", "503", "504"),
                },
            }
        },
        "/v1/responses/{response_id}/input_items": {
            "get": {
                "tags": [tag],
                "summary": "List a stored response's input items",
                "operationId": "listResponseInputItems",
                "description": "The conversation the response answered (earlier turns of its "
                "previous_response_id chain included), as a cursor page. " + stored_note,
                "security": security,
                "parameters": [
                    id_param,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {**_INT, "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
                    {"name": "after", "in": "query", "schema": _STRING, "description": "an item id"},
                ],
                "responses": {
                    "200": {
                        "description": "the items",
                        "content": {"application/json": {"schema": _ref("ResponseItemList")}},
                    },
                    **errors("400", "401", "403", "404"),
                },
            }
        },
        "/v1/responses/{response_id}": {
            "get": {
                "tags": [tag],
                "summary": "Retrieve a stored response",
                "operationId": "retrieveResponse",
                "description": stored_note,
                "security": security,
                "parameters": [id_param],
                "responses": {
                    "200": {
                        "description": "the response",
                        "content": {"application/json": {"schema": _ref("Response")}},
                    },
                    **errors("401", "403", "404"),
                },
            },
            "delete": {
                "tags": [tag],
                "summary": "Delete a stored response",
                "operationId": "deleteResponse",
                "description": stored_note,
                "security": security,
                "parameters": [id_param],
                "responses": {
                    "200": {
                        "description": "deleted",
                        "content": {"application/json": {"schema": _ref("DeletedResponse")}},
                    },
                    **errors("401", "403", "404"),
                },
            },
        },
    }
