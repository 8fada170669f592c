"""The provider adapter contract: targets, upstream requests, usage, errors, and the ABC every
adapter implements (pure translation: no HTTP client, no framework)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """One deployment to call: which provider, which model, where, with which key."""

    provider: str  # "openai" | "anthropic" | "gemini" | "mock"
    model: str  # provider model name to send upstream
    api_base: str  # e.g. https://api.openai.com/v1, https://api.anthropic.com
    api_key: str | None = field(repr=False)  # secret: never in reprs, errors or logs
    # Azure OpenAI api-version (with azure=True) / anthropic-version header override.
    api_version: str | None = None
    default_max_tokens: int = 4096  # anthropic requires max_tokens
    # openai adapter: Azure OpenAI URL shape {api_base}/openai/deployments/{model}/...?api-version=
    azure: bool = False


@dataclass(slots=True)
class UpstreamRequest:
    """What the gateway's HTTP client sends: method, absolute URL, headers, body bytes."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(slots=True)
class Usage:
    """Token usage of one call. prompt_tokens counts ALL input tokens, cached ones included;
    cache_read_tokens/cache_creation_tokens are the parts of it read from / written to a cache, and
    cache_creation_1h_tokens the part of the writes that went to a 1-hour cache (Anthropic's
    `usage.cache_creation.ephemeral_1h_input_tokens`; billed at a higher rate than 5-minute writes)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0  # the part of cache_creation_tokens written to a 1-hour cache

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI `usage` object (with prompt_tokens_details.cached_tokens)."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cache_read_tokens},
        }


class ProviderError(Exception):
    """A client request that cannot be translated for this provider (the gateway answers 400).
    `param` names the offending field, e.g. "messages[2].tool_call_id"."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class StreamTranslator(Protocol):
    """Turns an upstream stream into OpenAI chat.completion.chunk SSE frames for the client."""

    usage: Usage
    finish_reason: str | None
    error: dict | None  # {"type", "message"} once the upstream sent an error (the stream then ends)

    def feed(self, chunk: bytes) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...


class NativeUsageTap(Protocol):
    """Watches a native (pass-through) stream's bytes for usage; never changes them."""

    usage: Usage

    def feed(self, chunk: bytes) -> None: ...


class ProviderAdapter(ABC):
    """Translation between the OpenAI wire format and one provider's."""

    name: str

    @abstractmethod
    def chat_request(self, target: UpstreamTarget, body: dict, stream: bool) -> UpstreamRequest: ...

    @abstractmethod
    def chat_response(
        self, target: UpstreamTarget, data: bytes, request_body: dict
    ) -> tuple[bytes, Usage]: ...

    @abstractmethod
    def stream_translator(self, target: UpstreamTarget, request_body: dict) -> StreamTranslator: ...

    @abstractmethod
    def embeddings_request(self, target: UpstreamTarget, body: dict) -> UpstreamRequest: ...

    @abstractmethod
    def embeddings_response(
        self, target: UpstreamTarget, data: bytes, request_body: dict
    ) -> tuple[bytes, Usage]: ...

    @abstractmethod
    def error_message(self, status: int, data: bytes) -> str: ...

    @abstractmethod
    def native_request(
        self,
        target: UpstreamTarget,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        method: str | None = None,
    ) -> UpstreamRequest: ...

    @abstractmethod
    def native_usage(self, data: bytes) -> Usage: ...

    @abstractmethod
    def native_stream_usage(self) -> NativeUsageTap: ...


# ---------------------------------------------------------------- helpers shared by the adapters

JSON_HEADERS = {"content-type": "application/json"}

# Caller headers never forwarded upstream: the caller's credentials (its OCO key), cookies, hop-by-hop
# headers, ones the HTTP client sets itself, and cerebra's own attribution labels.
DROPPED_NATIVE_HEADERS = frozenset(
    {
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "accept-encoding",
        "x-agent-id",
        "x-team-id",
        "x-org-id",
        # would let a caller bill another organization/project the gateway's key can reach
        "openai-organization",
        "openai-project",
    }
)


def forwardable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers minus credentials, hop-by-hop and cerebra's own ones (keys lower-cased)."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        low = key.lower()
        if low not in DROPPED_NATIVE_HEADERS and not low.startswith("x-oco-"):
            out[low] = value
    return out


def native_url(base: str, path: str, query: str) -> str:
    url = base.rstrip("/") + "/" + path.lstrip("/")
    return url + "?" + query if query else url


def replace_json_model(body: bytes, model: str) -> bytes:
    """Set a JSON object body's "model" to `model` (re-encoding only when it differs)."""
    if not body or b'"model"' not in body:
        return body
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(doc, dict) or "model" not in doc or doc["model"] == model:
        return body
    doc["model"] = model
    return orjson.dumps(doc)


SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError)


def upstream_object(data: bytes, provider: str) -> dict[str, Any]:
    """A provider's JSON object answer; ProviderError (the gateway's 502) when it is not one."""
    doc = loads_or_none(data)
    if not isinstance(doc, dict):
        raise ProviderError(f"{provider} returned a body that is not a JSON object")
    return doc


def loads_or_none(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_SECRET_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]*\*{2,}[A-Za-z0-9]*|sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|oco_[A-Za-z0-9_\-]{16,}|([?&]key=)[^&\s\"']+)"
)


def redact(text: str) -> str:
    """Mask anything that looks like an API key in an upstream error text."""
    return _SECRET_PATTERNS.sub(lambda m: (m.group(2) or "") + "[redacted]", text)


def fallback_error_text(status: int, data: bytes) -> str:
    text = data[:500].decode("utf-8", "replace").strip()
    return redact(text) if text else f"upstream returned HTTP {status}"


def content_text(content: Any, param: str) -> str:
    """Text of an OpenAI message content that must be text-only (str, None or text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for j, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") in ("text", "refusal"):
                texts.append(part.get("text") or part.get("refusal") or "")
            else:
                raise ProviderError("only text content is supported here", f"{param}[{j}]")
        return "".join(texts)
    raise ProviderError("content must be a string or a list of parts", param)


def parse_data_url(url: str, param: str) -> tuple[str, str]:
    """`data:<mime>;base64,<data>` -> (mime, base64 data)."""
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise ProviderError("data URLs must be base64-encoded (data:<mime>;base64,...)", param)
    mime = head[5:-7] or "application/octet-stream"
    return mime, data


def iter_messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProviderError("messages must be a non-empty list", "messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise ProviderError("each message must be an object", f"messages[{i}]")
        if "role" not in msg:
            raise ProviderError("message is missing its role", f"messages[{i}].role")
    return messages


def tool_call_parts(msg: dict, i: int) -> list[tuple[str, str, dict]]:
    """An assistant message's tool_calls as (id, name, parsed arguments object)."""
    calls = msg.get("tool_calls")
    if not calls:
        return []
    if not isinstance(calls, list):
        raise ProviderError("tool_calls must be a list", f"messages[{i}].tool_calls")
    out: list[tuple[str, str, dict]] = []
    for j, call in enumerate(calls):
        param = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ProviderError("tool call needs function.name", f"{param}.function.name")
        raw = fn.get("arguments") or "{}"
        try:
            args = orjson.loads(raw) if isinstance(raw, str) else raw
        except orjson.JSONDecodeError:
            raise ProviderError(
                "tool call arguments are not valid JSON", f"{param}.function.arguments"
            ) from None
        if not isinstance(args, dict):
            raise ProviderError("tool call arguments must be a JSON object", f"{param}.function.arguments")
        out.append((str(call.get("id") or ""), fn["name"], args))
    return out


def function_tools(body: dict) -> list[dict]:
    """The request's function tools as their `function` objects (validated)."""
    tools = body.get("tools")
    if not tools:
        return []
    if not isinstance(tools, list):
        raise ProviderError("tools must be a list", "tools")
    out: list[dict] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise ProviderError("only function tools are supported", f"tools[{i}].type")
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ProviderError("function tool needs function.name", f"tools[{i}].function.name")
        out.append(fn)
    return out


def max_tokens_of(body: dict) -> int | None:
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        raise ProviderError("must be a positive integer", key)
    return value


def stop_list(body: dict) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return stop
    raise ProviderError("stop must be a string or a list of strings", "stop")


def wants_stream_usage(body: dict) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))
