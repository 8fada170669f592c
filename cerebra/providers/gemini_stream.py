"""Gemini streamGenerateContent?alt=sse -> OpenAI chat.completion.chunk frames; usage and finish
reasons shared with the non-streaming path; the usage tap for native Gemini streams."""

from __future__ import annotations

from typing import Any

import orjson

from cerebra.providers.base import SHAPE_ERRORS, Usage, as_int, loads_or_none, wants_stream_usage
from cerebra.providers.chunks import DONE_FRAME, ChunkWriter, error_frame, new_id
from cerebra.providers.sse import SSEEvent, SSEParser

_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)


def finish_reason_of(reason: str | None, has_tool_calls: bool) -> str | None:
    if reason is None:
        return None
    if reason in _FILTERED:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    return "tool_calls" if has_tool_calls else "stop"


def usage_from_gemini(meta: Any) -> Usage:
    """usageMetadata -> Usage. Thinking tokens are billed as output, tool-use prompt tokens as input."""
    if not isinstance(meta, dict):
        return Usage()
    return Usage(
        prompt_tokens=as_int(meta.get("promptTokenCount")) + as_int(meta.get("toolUsePromptTokenCount")),
        completion_tokens=as_int(meta.get("candidatesTokenCount")) + as_int(meta.get("thoughtsTokenCount")),
        cache_read_tokens=as_int(meta.get("cachedContentTokenCount")),
    )


class GeminiStreamTranslator:
    """Each SSE `data:` is a GenerateContentResponse; each becomes one or more OpenAI chunks."""

    __slots__ = (
        "_parser",
        "_writer",
        "_model",
        "_include_usage",
        "_started",
        "_tools",
        "usage",
        "finish_reason",
        "error",
    )

    def __init__(self, model: str, request_body: dict) -> None:
        self._parser = SSEParser()
        self._model = model
        self._writer: ChunkWriter | None = None
        self._include_usage = wants_stream_usage(request_body)
        self._started: set[int] = set()  # candidate indexes that got their role chunk
        self._tools: dict[int, int] = {}  # candidate index -> tool calls emitted so far
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.error: dict[str, Any] | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        events = self._parser.feed(chunk)
        return self._translate(events) if events else []

    def close(self) -> list[bytes]:
        frames = self._translate(self._parser.flush())
        if self.error is not None:
            return frames
        if self._include_usage:
            frames.append(self._chunks(None).usage(self.usage))
        frames.append(DONE_FRAME)
        return frames

    def _chunks(self, response_id: str | None) -> ChunkWriter:
        if self._writer is None:
            self._writer = ChunkWriter(response_id or new_id(), self._model)
        return self._writer

    def _translate(self, events: list[SSEEvent]) -> list[bytes]:
        out: list[bytes] = []
        for _, data in events:
            if self.error is not None:
                break
            doc = loads_or_none(data)
            if isinstance(doc, list) and doc:  # tolerate array-framed chunks
                doc = doc[0]
            if not isinstance(doc, dict):  # truncated or garbage: text would silently go missing
                self._fail("upstream_error", "malformed gemini stream event (not a JSON object)", out)
                break
            try:
                self._response(doc, out)
            except SHAPE_ERRORS as exc:
                self._fail("upstream_error", f"malformed gemini stream event ({type(exc).__name__})", out)
        return out

    def _response(self, doc: dict[str, Any], out: list[bytes]) -> None:
        if "error" in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
            self._fail(err.get("status") or "upstream_error", err.get("message") or "upstream error", out)
            return
        meta = doc.get("usageMetadata")
        if meta is not None:
            self.usage = usage_from_gemini(meta)
        writer = self._chunks(doc.get("responseId"))
        candidates = doc.get("candidates")
        if candidates:
            for position, cand in enumerate(candidates):
                self._candidate(writer, cand, position, out)
        elif (doc.get("promptFeedback") or {}).get("blockReason"):
            self._start(writer, 0, out)
            self.finish_reason = "content_filter"
            out.append(writer.delta({}, 0, "content_filter"))

    def _fail(self, kind: str, message: str, out: list[bytes]) -> None:
        self.error = {"type": kind, "message": message}
        out.append(error_frame(message, kind))

    def _start(self, writer: ChunkWriter, index: int, out: list[bytes]) -> None:
        if index not in self._started:
            self._started.add(index)
            out.append(writer.delta({"role": "assistant", "content": ""}, index))

    def _candidate(self, writer: ChunkWriter, cand: dict[str, Any], position: int, out: list[bytes]) -> None:
        index = as_int(cand.get("index", position))
        self._start(writer, index, out)
        parts = (cand.get("content") or {}).get("parts") or ()
        for part in parts:
            if "text" in part:
                if part["text"] and part.get("thought"):
                    out.append(writer.delta({"reasoning_content": part["text"]}, index))
                elif part["text"]:
                    out.append(writer.content(part["text"], index))
            elif "functionCall" in part:
                fc = part["functionCall"]
                n = self._tools.get(index, 0)
                self._tools[index] = n + 1
                call = {
                    "index": n,
                    "id": new_id("call_"),
                    "type": "function",
                    "function": {
                        "name": fc.get("name", ""),
                        "arguments": orjson.dumps(fc.get("args") or {}).decode(),
                    },
                }
                out.append(writer.delta({"tool_calls": [call]}, index))
        reason = finish_reason_of(cand.get("finishReason"), index in self._tools)
        if reason is not None:
            if index == 0 or self.finish_reason is None:
                self.finish_reason = reason
            out.append(writer.delta({}, index, reason))


class GeminiNativeUsageTap:
    """Keeps the last usageMetadata of a native Gemini stream (SSE; or a JSON array at close())."""

    __slots__ = ("_parser", "_seen_event", "usage")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._seen_event = False
        self.usage = Usage()

    def feed(self, chunk: bytes) -> None:
        for _, data in self._parser.feed(chunk):
            self._see(data)

    def close(self) -> None:
        if not self._seen_event:
            doc = loads_or_none(self._parser.pending)
            if isinstance(doc, list) and doc and isinstance(doc[-1], dict):
                self.usage = usage_from_gemini(doc[-1].get("usageMetadata"))
                return
        for _, data in self._parser.flush():
            self._see(data)

    def _see(self, data: bytes) -> None:
        self._seen_event = True
        if b'"usageMetadata"' in data:
            doc = loads_or_none(data)
            if isinstance(doc, dict) and doc.get("usageMetadata") is not None:
                self.usage = usage_from_gemini(doc["usageMetadata"])
