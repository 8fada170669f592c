"""Builders of OpenAI-format output shared by the translating adapters: chat.completion bodies and
chat.completion.chunk SSE frames (with a precomputed frame prefix so each event costs one dumps)."""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from cerebra.providers.base import Usage

DONE_FRAME = b"data: [DONE]\n\n"


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + os.urandom(12).hex()


def error_frame(message: str, type_: str | None) -> bytes:
    """An in-stream error the openai SDK raises as APIError."""
    err = {"error": {"message": message, "type": type_ or "upstream_error", "code": None, "param": None}}
    return b"data: " + orjson.dumps(err) + b"\n\n"


def completion(
    id_: str,
    model: str,
    choices: list[dict[str, Any]],
    usage: Usage,
    created: int | None = None,
) -> bytes:
    return orjson.dumps(
        {
            "id": id_,
            "object": "chat.completion",
            "created": created if created is not None else int(time.time()),
            "model": model,
            "choices": choices,
            "usage": usage.to_openai(),
        }
    )


def message_choice(
    index: int,
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish_reason: str | None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    """One choice; `reasoning` (the provider's thinking text) goes in `reasoning_content`, the field
    OpenAI-compatible servers use for it."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def tool_call(id_: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChunkWriter:
    """Frames chat.completion.chunk events that share one id, created time and model."""

    __slots__ = ("_prefix", "_head")

    def __init__(self, id_: str, model: str, created: int | None = None) -> None:
        created = created if created is not None else int(time.time())
        head = orjson.dumps(
            {"id": id_, "object": "chat.completion.chunk", "created": created, "model": model}
        )
        self._head = head[:-1]  # the JSON object without its closing brace
        self._prefix = b"data: " + self._head + b',"choices":['

    def delta(self, delta: dict[str, Any], index: int = 0, finish_reason: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._prefix + orjson.dumps(choice) + b"]}\n\n"

    def content(self, text: str, index: int = 0) -> bytes:
        return (
            self._prefix
            + b'{"index":%d,"delta":{"content":%s},"logprobs":null,"finish_reason":null}]}\n\n'
            % (
                index,
                orjson.dumps(text),
            )
        )

    def usage(self, usage: Usage) -> bytes:
        return b"data: " + self._head + b',"choices":[],"usage":' + orjson.dumps(usage.to_openai()) + b"}\n\n"
