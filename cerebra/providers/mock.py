"""The built-in `mock` provider: an OpenAI-wire adapter whose "upstream" is MockBackend, answered in-process
(no network, no key): deterministic chat completions (JSON and SSE, with usage) and hash-based embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cerebra.providers.base import ProviderError, UpstreamRequest, UpstreamTarget, Usage
from cerebra.providers.openai import OpenAIAdapter

MOCK_API_BASE = "mock://in-process"
MOCK_MODEL = "oco-mock"
MOCK_PREFIX = "This is a mock response from OCO cerebra: "
ECHO_LIMIT = 200  # characters of the last user message echoed back
DEFAULT_DIMENSIONS = 1536
MAX_DIMENSIONS = 8192
FINGERPRINT = "fp_oco_mock"


class MockAdapter(OpenAIAdapter):
    """OpenAI's wire format end to end (the backend speaks it), so requests and answers are translated
    exactly as for an OpenAI-compatible upstream; there is no native pass-through API."""

    name = "mock"

    def native_request(
        self,
        target: UpstreamTarget,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        method: str | None = None,
    ) -> UpstreamRequest:
        raise ProviderError("the mock provider has no native API; use /v1/chat/completions or /v1/embeddings")


@dataclass(slots=True)
class MockAnswer:
    """What the backend answers: a status, a content type, and either a whole body or SSE frames."""

    status: int
    content_type: str
    body: bytes = b""
    frames: list[bytes] | None = None


def _error(status: int, message: str, param: str | None = None) -> MockAnswer:
    err = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return MockAnswer(status, "application/json", orjson.dumps({"error": err}))


def _tokens(text: str) -> int:
    """About four characters a token, as tokenizers average on English."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _prompt_tokens(messages: list[Any]) -> int:
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        if isinstance(message, dict):
            total += 4 + _tokens(_text_of(message.get("content")))
    return total


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            text = " ".join(_text_of(message.get("content")).split())
            return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 3] + "..."
    return ""


def _forced_tool(body: dict) -> str | None:
    """The function a request forces (tool_choice "required" or a named function), else None."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools:
        return None
    if isinstance(choice, dict):
        fn = choice.get("function")
        return fn.get("name") if isinstance(fn, dict) and isinstance(fn.get("name"), str) else None
    if choice == "required":
        first = tools[0] if isinstance(tools[0], dict) else {}
        fn = first.get("function")
        return fn.get("name") if isinstance(fn, dict) and isinstance(fn.get("name"), str) else None
    return None


def _reply_text(body: dict, echo: str) -> str:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return orjson.dumps({"mock": True, "message": MOCK_PREFIX.rstrip(": "), "echo": echo}).decode()
    return MOCK_PREFIX + echo if echo else MOCK_PREFIX.rstrip(": ") + "."


def _words(text: str) -> list[str]:
    """The stream deltas: word by word, spaces kept, so they join back to `text`."""
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]] if parts[-1] else [p + " " for p in parts[:-1]]


class MockBackend:
    """The mock upstream: answers an UpstreamRequest built by MockAdapter as OpenAI would."""

    def answer(self, method: str, url: str, body: bytes | None) -> MockAnswer:
        op = url[len(MOCK_API_BASE) + 1 :] if url.startswith(MOCK_API_BASE + "/") else ""
        if method != "POST" or op not in ("chat/completions", "embeddings"):
            return _error(404, f"the mock provider does not serve {method} /{op}")
        try:
            doc = orjson.loads(body or b"")
        except orjson.JSONDecodeError:
            return _error(400, "the request body is not valid JSON")
        if not isinstance(doc, dict):
            return _error(400, "the request body must be a JSON object")
        return self.chat(doc) if op == "chat/completions" else self.embeddings(doc)

    def chat(self, body: dict) -> MockAnswer:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list", "messages")
        model = str(body.get("model") or MOCK_MODEL)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        words = _words(_reply_text(body, _last_user_text(messages)))
        finish = "stop"
        tool = _forced_tool(body)
        if tool is not None:
            finish, words = "tool_calls", []
        elif isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(words):
            finish, words = "length", words[:limit]
        completion_tokens = len(words) if tool is None else 5
        usage = Usage(prompt_tokens=_prompt_tokens(messages), completion_tokens=completion_tokens).to_openai()
        usage["completion_tokens_details"] = {"reasoning_tokens": 0}
        created = int(time.time())
        id_ = "chatcmpl-mock" + hashlib.sha256(orjson.dumps(messages)).hexdigest()[:20]
        calls = (
            [
                {
                    "id": "call_mock" + id_[-12:],
                    "type": "function",
                    "function": {"name": tool, "arguments": "{}"},
                }
            ]
            if tool is not None
            else None
        )
        head = {"id": id_, "created": created, "model": model, "system_fingerprint": FINGERPRINT}
        if body.get("stream") is True:
            return MockAnswer(
                200, "text/event-stream", frames=self._frames(head, body, words, calls, finish, usage)
            )
        message: dict[str, Any] = {"role": "assistant", "content": "".join(words) if calls is None else None}
        message["refusal"] = None
        if calls is not None:
            message["tool_calls"] = calls
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        payload = {"id": id_, "object": "chat.completion", **head, "choices": [choice], "usage": usage}
        return MockAnswer(200, "application/json", orjson.dumps(payload))

    @staticmethod
    def _frames(
        head: dict,
        body: dict,
        words: list[str],
        calls: list | None,
        finish: str,
        usage: dict,
    ) -> list[bytes]:
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base = {
            "id": head["id"],
            "object": "chat.completion.chunk",
            **{k: head[k] for k in head if k != "id"},
        }

        def frame(delta: dict, finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            chunk = {**base, "choices": [choice]}
            if with_usage:
                chunk["usage"] = None
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        frames = [frame({"role": "assistant", "content": "" if calls is None else None, "refusal": None})]
        if calls is not None:
            frames.append(frame({"tool_calls": [{"index": 0, **calls[0]}]}))
        frames.extend(frame({"content": word}) for word in words)
        frames.append(frame({}, finish))
        if with_usage:
            frames.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        return frames

    def embeddings(self, body: dict) -> MockAnswer:
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return _error(400, "'input' must be a non-empty string or list", "input")
        dims = body.get("dimensions", DEFAULT_DIMENSIONS)
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= MAX_DIMENSIONS:
            return _error(400, f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}", "dimensions")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else orjson.dumps(item).decode()
            tokens += len(item) if isinstance(item, list) else _tokens(text)
            vector = embedding_vector(text, dims)
            value: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": value})
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        payload = {
            "object": "list",
            "data": data,
            "model": str(body.get("model") or MOCK_MODEL),
            "usage": usage,
        }
        return MockAnswer(200, "application/json", orjson.dumps(payload))


def embedding_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for `text`: SHA-256 in counter mode mapped to [-1, 1], normalized."""
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(counter.to_bytes(4, "big") + text.encode()).digest()
        counter += 1
    values = [(v / 0xFFFFFFFF) * 2 - 1 for v in struct.unpack(f">{dims}I", raw[: dims * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
