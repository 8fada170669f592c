"""JSON Schemas of the /v1 bodies for the OpenAPI document: a compact, faithful subset of OpenAI's own
(CreateChatCompletionRequest/Response, the stream chunk, embeddings, models, the error), and of Anthropic's
Messages API for its dialect. Documentation only."""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_FINISH = {"type": "string", "enum": ["stop", "length", "tool_calls", "content_filter", "function_call"]}

_CONTENT_PART = {
    "type": "object",
    "description": "A content part: `text`, `image_url` (URL or data URL), `input_audio` or `file`.",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["text", "image_url", "input_audio", "file"]},
        "text": _STRING,
        "image_url": {
            "type": "object",
            "required": ["url"],
            "properties": {"url": _STRING, "detail": {"type": "string", "enum": ["auto", "low", "high"]}},
        },
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ChatCompletionRequestMessage": {
        "type": "object",
        "description": "One message of the conversation.",
        "required": ["role"],
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {
                "anyOf": [_STRING, {"type": "array", "items": _CONTENT_PART}, {"type": "null"}],
                "description": "Text, or content parts; null on an assistant message that only calls tools.",
            },
            "name": _STRING,
            "tool_calls": {"type": "array", "items": ref("ChatCompletionMessageToolCall")},
            "tool_call_id": {"type": "string", "description": "On a `tool` message: the call it answers."},
        },
    },
    "ChatCompletionTool": {
        "type": "object",
        "required": ["type", "function"],
        "properties": {
            "type": {"type": "string", "enum": ["function"]},
            "function": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": _STRING,
                    "description": _STRING,
                    "parameters": {"type": "object", "description": "JSON Schema of the arguments"},
                    "strict": {"type": "boolean"},
                },
            },
        },
    },
    "ChatCompletionMessageToolCall": {
        "type": "object",
        "required": ["id", "type", "function"],
        "properties": {
            "id": _STRING,
            "type": {"type": "string", "enum": ["function"]},
            "function": {
                "type": "object",
                "required": ["name", "arguments"],
                "properties": {
                    "name": _STRING,
                    "arguments": {"type": "string", "description": "JSON-encoded arguments"},
                },
            },
        },
    },
    "CreateChatCompletionRequest": {
        "type": "object",
        "description": "OpenAI's chat completion request; fields not listed are forwarded to providers that "
        "take them. `model` is a cerebra alias (see GET /v1/models) or `auto`.",
        "required": ["model", "messages"],
        "additionalProperties": True,
        "properties": {
            "model": {"type": "string", "examples": ["demo"]},
            "messages": {"type": "array", "minItems": 1, "items": ref("ChatCompletionRequestMessage")},
            "stream": {"type": "boolean", "default": False, "description": "Answer as server-sent events."},
            "stream_options": nullable(
                {"type": "object", "properties": {"include_usage": {"type": "boolean"}}}
            ),
            "max_completion_tokens": nullable({"type": "integer", "minimum": 1}),
            "max_tokens": nullable({"type": "integer", "minimum": 1, "deprecated": True}),
            "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
            "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "n": nullable({"type": "integer", "minimum": 1, "default": 1}),
            "stop": {
                "anyOf": [_STRING, {"type": "array", "items": _STRING, "maxItems": 4}, {"type": "null"}]
            },
            "presence_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
            "frequency_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
            "seed": nullable(_INT),
            "tools": {"type": "array", "items": ref("ChatCompletionTool")},
            "tool_choice": {
                "anyOf": [
                    {"type": "string", "enum": ["none", "auto", "required"]},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string", "enum": ["function"]},
                            "function": {"type": "object", "properties": {"name": _STRING}},
                        },
                    },
                ]
            },
            "response_format": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "enum": ["text", "json_object", "json_schema"]},
                    "json_schema": {"type": "object"},
                },
            },
            "user": _STRING,
        },
    },
    "CompletionUsage": {
        "type": "object",
        "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
        "properties": {
            "prompt_tokens": _INT,
            "completion_tokens": _INT,
            "total_tokens": _INT,
            "prompt_tokens_details": {"type": "object", "properties": {"cached_tokens": _INT}},
        },
    },
    "ChatCompletionResponseMessage": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": ["assistant"]},
            "content": nullable(_STRING),
            "refusal": nullable(_STRING),
            "tool_calls": {"type": "array", "items": ref("ChatCompletionMessageToolCall")},
        },
    },
    "CreateChatCompletionResponse": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": _STRING,
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer", "description": "Unix seconds"},
            "model": {"type": "string", "description": "The provider model that answered"},
            "system_fingerprint": nullable(_STRING),
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "message", "finish_reason"],
                    "properties": {
                        "index": _INT,
                        "message": ref("ChatCompletionResponseMessage"),
                        "finish_reason": _FINISH,
                        "logprobs": nullable({"type": "object"}),
                    },
                },
            },
            "usage": ref("CompletionUsage"),
        },
    },
    "CreateChatCompletionStreamResponse": {
        "type": "object",
        "description": "One `data:` event of a stream (the stream ends with `data: [DONE]`). With "
        "`stream_options.include_usage`, a last chunk has empty `choices` and the `usage`.",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": _STRING,
            "object": {"type": "string", "enum": ["chat.completion.chunk"]},
            "created": _INT,
            "model": _STRING,
            "system_fingerprint": nullable(_STRING),
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "delta", "finish_reason"],
                    "properties": {
                        "index": _INT,
                        "delta": {
                            "type": "object",
                            "properties": {
                                "role": {"type": "string", "enum": ["assistant"]},
                                "content": nullable(_STRING),
                                "refusal": nullable(_STRING),
                                "tool_calls": {
                                    "type": "array",
                                    "items": {"type": "object", "properties": {"index": _INT}},
                                },
                            },
                        },
                        "finish_reason": nullable(_FINISH),
                        "logprobs": nullable({"type": "object"}),
                    },
                },
            },
            "usage": nullable(ref("CompletionUsage")),
        },
    },
    "CreateEmbeddingRequest": {
        "type": "object",
        "required": ["model", "input"],
        "additionalProperties": True,
        "properties": {
            "model": {"type": "string", "examples": ["demo"]},
            "input": {
                "anyOf": [
                    _STRING,
                    {"type": "array", "minItems": 1, "items": _STRING},
                    {"type": "array", "minItems": 1, "items": _INT},
                    {"type": "array", "minItems": 1, "items": {"type": "array", "items": _INT}},
                ]
            },
            "encoding_format": {"type": "string", "enum": ["float", "base64"], "default": "float"},
            "dimensions": {"type": "integer", "minimum": 1},
            "user": _STRING,
        },
    },
    "Embedding": {
        "type": "object",
        "required": ["index", "embedding", "object"],
        "properties": {
            "index": _INT,
            "embedding": {
                "anyOf": [
                    {"type": "array", "items": {"type": "number"}},
                    {"type": "string", "description": "base64 of little-endian float32s"},
                ]
            },
            "object": {"type": "string", "enum": ["embedding"]},
        },
    },
    "CreateEmbeddingResponse": {
        "type": "object",
        "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": ref("Embedding")},
            "model": _STRING,
            "usage": {
                "type": "object",
                "required": ["prompt_tokens", "total_tokens"],
                "properties": {"prompt_tokens": _INT, "total_tokens": _INT},
            },
        },
    },
    "Model": {
        "type": "object",
        "description": "A cerebra alias. `owned_by` is `oco-mock` for an alias served by the built-in mock "
        "provider, else `cerebra`.",
        "required": ["id", "object", "created", "owned_by"],
        "properties": {
            "id": _STRING,
            "object": {"type": "string", "enum": ["model"]},
            "created": _INT,
            "owned_by": {"type": "string", "examples": ["cerebra", "oco-mock"]},
        },
    },
    "ListModelsResponse": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": ref("Model")},
        },
    },
    "GatewayError": {
        "type": "object",
        "description": "OpenAI's error shape. When every deployment failed, `attempts` lists what was tried.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": _STRING,
                    "type": _STRING,
                    "param": nullable(_STRING),
                    "code": nullable(_STRING),
                    "attempts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "deployment": _STRING,
                                "outcome": _STRING,
                                "status": nullable(_INT),
                                "reason": _STRING,
                            },
                        },
                    },
                },
            }
        },
    },
}

# ------------------------------------------------------------------ the Anthropic Messages dialect
_ANTHROPIC_BLOCK = {
    "type": "object",
    "description": "A content block: `text`, `image` (base64 or url source), `document`, `tool_use`, "
    "`tool_result` (with `is_error`), `thinking`/`redacted_thinking` (kept for Anthropic deployments, "
    "dropped elsewhere). `cache_control` is honoured by Anthropic deployments and dropped elsewhere.",
    "required": ["type"],
    "properties": {"type": _STRING},
    "additionalProperties": True,
}
_ANTHROPIC_USAGE = {
    "type": "object",
    "required": ["input_tokens", "output_tokens"],
    "properties": {
        "input_tokens": {**_INT, "description": "input tokens not read from or written to the cache"},
        "output_tokens": _INT,
        "cache_read_input_tokens": _INT,
        "cache_creation_input_tokens": _INT,
    },
}
ANTHROPIC_SCHEMAS: dict[str, Any] = {
    "AnthropicMessagesRequest": {
        "type": "object",
        "description": "Anthropic's Messages request; `model` is a cerebra alias. `temperature`, `top_p` "
        "and `top_k` are accepted (top_k is not sent to OpenAI-compatible targets).",
        "required": ["model", "max_tokens", "messages"],
        "properties": {
            "model": _STRING,
            "max_tokens": _INT,
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "properties": {
                        "role": {"type": "string", "enum": ["user", "assistant"]},
                        "content": {"oneOf": [_STRING, {"type": "array", "items": _ANTHROPIC_BLOCK}]},
                    },
                },
            },
            "system": {"oneOf": [_STRING, {"type": "array", "items": _ANTHROPIC_BLOCK}]},
            "tools": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            "tool_choice": {
                "type": "object",
                "properties": {"type": {"type": "string", "enum": ["auto", "any", "tool", "none"]}},
            },
            "stop_sequences": {"type": "array", "items": _STRING},
            "temperature": {"type": "number"},
            "top_p": {"type": "number"},
            "top_k": _INT,
            "thinking": {
                "type": "object",
                "description": "enabled (budget_tokens), adaptive or disabled; mapped for other providers "
                "by the reasoning table (README)",
                "properties": {
                    "type": {"type": "string", "enum": ["enabled", "adaptive", "disabled"]},
                    "budget_tokens": _INT,
                },
            },
            "output_config": {"type": "object", "additionalProperties": True},
            "metadata": {"type": "object", "properties": {"user_id": _STRING}},
            "stream": {"type": "boolean"},
        },
    },
    "AnthropicMessage": {
        "type": "object",
        "required": ["id", "type", "role", "content", "model", "stop_reason", "usage"],
        "properties": {
            "id": _STRING,
            "type": {"type": "string", "enum": ["message"]},
            "role": {"type": "string", "enum": ["assistant"]},
            "content": {"type": "array", "items": _ANTHROPIC_BLOCK},
            "model": _STRING,
            "stop_reason": {
                "type": "string",
                "enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"],
            },
            "stop_sequence": nullable(_STRING),
            "usage": _ANTHROPIC_USAGE,
        },
    },
    "AnthropicStreamEvent": {
        "type": "object",
        "description": "One server-sent event: message_start, content_block_start, content_block_delta "
        "(text_delta, input_json_delta, thinking_delta, signature_delta), content_block_stop, "
        "message_delta (stop_reason, usage), message_stop, ping, error.",
        "required": ["type"],
        "properties": {"type": _STRING},
        "additionalProperties": True,
    },
    "AnthropicCountTokensResponse": {
        "type": "object",
        "required": ["input_tokens"],
        "properties": {"input_tokens": _INT},
    },
    "AnthropicModelInfo": {
        "type": "object",
        "required": ["type", "id", "display_name", "created_at"],
        "properties": {
            "type": {"type": "string", "enum": ["model"]},
            "id": _STRING,
            "display_name": _STRING,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "AnthropicModelList": {
        "type": "object",
        "required": ["data", "has_more", "first_id", "last_id"],
        "properties": {
            "data": {"type": "array", "items": ref("AnthropicModelInfo")},
            "has_more": {"type": "boolean"},
            "first_id": nullable(_STRING),
            "last_id": nullable(_STRING),
        },
    },
    "AnthropicError": {
        "type": "object",
        "description": "Anthropic's error shape, on /v1/messages* and on /v1/models with anthropic-version.",
        "required": ["type", "error"],
        "properties": {
            "type": {"type": "string", "enum": ["error"]},
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": _STRING, "message": _STRING},
            },
        },
    },
}
SCHEMAS.update(ANTHROPIC_SCHEMAS)
