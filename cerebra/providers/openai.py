"""The OpenAI-compatible adapter (OpenAI, Azure OpenAI, vLLM, Ollama, ...): pass-through that only
swaps the model, always asks streams for usage, and strips that usage chunk when the client did not ask.
Reasoning text that OpenAI-compatible servers return as `reasoning_content` passes through unchanged."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from cerebra.dialects.reasoning import openai_fields
from cerebra.providers.base import (
    ProviderAdapter,
    UpstreamRequest,
    UpstreamTarget,
    Usage,
    as_int,
    fallback_error_text,
    forwardable_headers,
    loads_or_none,
    redact,
    replace_json_model,
    wants_stream_usage,
)
from cerebra.providers.chunks import DONE_FRAME, error_frame
from cerebra.providers.sse import SSEParser

DEFAULT_AZURE_API_VERSION = "2024-10-21"


def _endpoint(target: UpstreamTarget, op: str) -> str:
    base = target.api_base.rstrip("/")
    if target.azure:
        version = target.api_version or DEFAULT_AZURE_API_VERSION
        return f"{base}/openai/deployments/{target.model}/{op}?api-version={version}"
    return f"{base}/{op}"


def _auth_headers(target: UpstreamTarget, headers: dict[str, str] | None = None) -> dict[str, str]:
    if headers is None:
        headers = {"content-type": "application/json"}
    if target.api_key:
        if target.azure:
            headers["api-key"] = target.api_key
        else:
            headers["authorization"] = "Bearer " + target.api_key
    return headers


def usage_from_openai(obj: object) -> Usage:
    if not isinstance(obj, dict):
        return Usage()
    details = obj.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(
        prompt_tokens=as_int(obj.get("prompt_tokens")),
        completion_tokens=as_int(obj.get("completion_tokens")),
        cache_read_tokens=cached,
    )


def _finish_reason_in(data: bytes) -> str | None:
    """Cheap scan of a chunk for `"finish_reason":"x"` without parsing the JSON."""
    i = data.find(b'"finish_reason":')
    if i < 0:
        return None
    i += 16
    while data[i : i + 1] == b" ":
        i += 1
    if data[i : i + 1] != b'"':
        return None
    j = data.find(b'"', i + 1)
    return data[i + 1 : j].decode() if j > 0 else None


def _may_carry_usage(data: bytes) -> bool:
    return b'"usage"' in data and b'"usage":null' not in data and b'"usage": null' not in data


def _looks_like_an_object(data: bytes) -> bool:
    """Cheap check that an event is one JSON object (braces at both ends), without parsing it."""
    data = data.strip()
    return data[:1] == b"{" and data[-1:] == b"}"


class OpenAIStreamTranslator:
    """Relays OpenAI chunks as they are; captures usage; drops the usage-only chunk if unasked."""

    __slots__ = ("_parser", "_keep_usage_chunk", "usage", "finish_reason", "error", "_done")

    def __init__(self, keep_usage_chunk: bool) -> None:
        self._parser = SSEParser()
        self._keep_usage_chunk = keep_usage_chunk
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.error: dict | None = None
        self._done = False

    def feed(self, chunk: bytes) -> list[bytes]:
        return self._frames(self._parser.feed(chunk))

    def close(self) -> list[bytes]:
        frames = self._frames(self._parser.flush())
        if self.error is None and not self._done and self.finish_reason is None:
            frames.append(self._fail("openai stream ended before a finish_reason or [DONE]"))
        frames.append(DONE_FRAME)
        return frames

    def _fail(self, message: str) -> bytes:
        self.error = {"type": "upstream_error", "message": message}
        self._done = True
        return error_frame(message, "upstream_error")

    def _frames(self, events: list) -> list[bytes]:
        out: list[bytes] = []
        for _, data in events:
            if self._done:
                break
            if data == b"[DONE]":
                self._done = True
                break
            if _may_carry_usage(data) or data.startswith(b'{"error"'):
                doc = loads_or_none(data)
                if isinstance(doc, dict):
                    if doc.get("error"):
                        self.error = (
                            doc["error"] if isinstance(doc["error"], dict) else {"message": doc["error"]}
                        )
                    if isinstance(doc.get("usage"), dict):
                        self.usage = usage_from_openai(doc["usage"])
                        if not doc.get("choices") and not self._keep_usage_chunk:
                            continue
            if not _looks_like_an_object(data):  # truncated or garbage: the SDK could not parse it
                out.append(self._fail("malformed openai stream event (not a JSON object)"))
                break
            if self.finish_reason is None:
                self.finish_reason = _finish_reason_in(data)
            if b"\n" in data:  # a multi-line `data:` event: JSON allows a space where the lines joined
                data = data.replace(b"\n", b" ")
            out.append(b"data: " + data + b"\n\n")
        return out


class OpenAINativeUsageTap:
    """Finds usage in an OpenAI SSE stream (present only when the caller asked include_usage)."""

    __slots__ = ("_parser", "usage")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.usage = Usage()

    def feed(self, chunk: bytes) -> None:
        for _, data in self._parser.feed(chunk):
            self._see(data)

    def close(self) -> None:
        for _, data in self._parser.flush():
            self._see(data)

    def _see(self, data: bytes) -> None:
        if _may_carry_usage(data):
            doc = loads_or_none(data)
            if isinstance(doc, dict) and isinstance(doc.get("usage"), dict):
                self.usage = usage_from_openai(doc["usage"])


class OpenAIAdapter(ProviderAdapter):
    name = "openai"

    def chat_request(self, target: UpstreamTarget, body: dict, stream: bool) -> UpstreamRequest:
        out = dict(openai_fields(body))  # an Anthropic-style `thinking` becomes reasoning_effort
        out["model"] = target.model
        if stream:
            out["stream"] = True
            opts = body.get("stream_options")
            out["stream_options"] = (
                {**opts, "include_usage": True} if isinstance(opts, dict) else {"include_usage": True}
            )
        else:
            out.pop("stream", None)
            out.pop("stream_options", None)
        return UpstreamRequest(
            "POST", _endpoint(target, "chat/completions"), _auth_headers(target), orjson.dumps(out)
        )

    def chat_response(self, target: UpstreamTarget, data: bytes, request_body: dict) -> tuple[bytes, Usage]:
        doc = loads_or_none(data)
        return data, usage_from_openai(doc.get("usage") if isinstance(doc, dict) else None)

    def stream_translator(self, target: UpstreamTarget, request_body: dict) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(wants_stream_usage(request_body))

    def embeddings_request(self, target: UpstreamTarget, body: dict) -> UpstreamRequest:
        out = dict(body)
        out["model"] = target.model
        return UpstreamRequest(
            "POST", _endpoint(target, "embeddings"), _auth_headers(target), orjson.dumps(out)
        )

    def embeddings_response(
        self, target: UpstreamTarget, data: bytes, request_body: dict
    ) -> tuple[bytes, Usage]:
        return self.chat_response(target, data, request_body)

    def error_message(self, status: int, data: bytes) -> str:
        doc = loads_or_none(data)
        if isinstance(doc, dict):
            err = doc.get("error")
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                return redact(err["message"])
            if isinstance(err, str):
                return redact(err)
            if isinstance(doc.get("message"), str):
                return redact(doc["message"])
        return fallback_error_text(status, data)

    def native_request(
        self,
        target: UpstreamTarget,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        method: str | None = None,
    ) -> UpstreamRequest:
        out = _auth_headers(target, forwardable_headers(headers))
        if body and "content-type" not in out:
            out["content-type"] = "application/json"
        base = target.api_base.rstrip("/")
        if target.azure:
            base = f"{base}/openai/deployments/{target.model}"
            if "api-version=" not in query:
                version = "api-version=" + (target.api_version or DEFAULT_AZURE_API_VERSION)
                query = f"{query}&{version}" if query else version
        url = base + "/" + path.lstrip("/") + ("?" + query if query else "")
        return UpstreamRequest(
            method or ("POST" if body else "GET"), url, out, replace_json_model(body, target.model)
        )

    def native_usage(self, data: bytes) -> Usage:
        doc = loads_or_none(data)
        return usage_from_openai(doc.get("usage") if isinstance(doc, dict) else None)

    def native_stream_usage(self) -> OpenAINativeUsageTap:
        return OpenAINativeUsageTap()
