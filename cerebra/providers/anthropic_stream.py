"""Anthropic Messages SSE -> OpenAI chat.completion.chunk frames, and the usage tap for native streams."""

from __future__ import annotations

from typing import Any

from cerebra.providers.base import SHAPE_ERRORS, Usage, as_int, loads_or_none, wants_stream_usage
from cerebra.providers.chunks import DONE_FRAME, ChunkWriter, error_frame, new_id
from cerebra.providers.sse import SSEEvent, SSEParser

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def usage_from_anthropic(obj: Any, into: Usage | None = None) -> Usage:
    """Anthropic usage -> Usage; prompt_tokens = input + cache read + cache creation tokens.
    With `into`, only the fields present in `obj` are updated (stream usage is cumulative)."""
    usage = into if into is not None else Usage()
    if not isinstance(obj, dict):
        return usage
    if "input_tokens" in obj or "cache_read_input_tokens" in obj or "cache_creation_input_tokens" in obj:
        uncached = usage.prompt_tokens - usage.cache_read_tokens - usage.cache_creation_tokens
        if "input_tokens" in obj:
            uncached = as_int(obj["input_tokens"])
        if "cache_read_input_tokens" in obj:
            usage.cache_read_tokens = as_int(obj["cache_read_input_tokens"])
        if "cache_creation_input_tokens" in obj:
            usage.cache_creation_tokens = as_int(obj["cache_creation_input_tokens"])
        usage.prompt_tokens = uncached + usage.cache_read_tokens + usage.cache_creation_tokens
    split = obj.get("cache_creation")
    if isinstance(split, dict) and "ephemeral_1h_input_tokens" in split:
        usage.cache_creation_1h_tokens = min(
            as_int(split["ephemeral_1h_input_tokens"]), usage.cache_creation_tokens
        )
    if "output_tokens" in obj:
        usage.completion_tokens = as_int(obj["output_tokens"])
    return usage


class AnthropicStreamTranslator:
    """Feeds on Anthropic's `event: <type>\\ndata: {...}` stream and emits OpenAI chunk frames."""

    __slots__ = (
        "_parser",
        "_writer",
        "_model",
        "_include_usage",
        "_tool_index",
        "_started",
        "_stopped",
        "usage",
        "finish_reason",
        "error",
    )

    def __init__(self, model: str, request_body: dict) -> None:
        self._parser = SSEParser()
        self._model = model
        self._writer: ChunkWriter | None = None
        self._include_usage = wants_stream_usage(request_body)
        self._tool_index: dict[int, int] = {}  # anthropic content block index -> OpenAI tool_calls index
        self._started = False
        self._stopped = False  # message_stop or error seen
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.error: dict[str, Any] | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        events = self._parser.feed(chunk)
        return self._translate(events) if events else []

    def close(self) -> list[bytes]:
        frames = self._translate(self._parser.flush())
        if self.error is not None:
            return frames  # the error frame ended the stream
        if not self._stopped:
            self.error = {"type": "upstream_error", "message": "anthropic stream ended before message_stop"}
            frames.append(error_frame(self.error["message"], self.error["type"]))
            return frames
        if self._include_usage:
            frames.append(self._chunks().usage(self.usage))
        frames.append(DONE_FRAME)
        return frames

    def _chunks(self, message_id: str | None = None) -> ChunkWriter:
        if self._writer is None:
            self._writer = ChunkWriter(message_id or new_id(), self._model)
        return self._writer

    def _translate(self, events: list[SSEEvent]) -> list[bytes]:
        out: list[bytes] = []
        for name, data in events:
            if self.error is not None:
                break
            if name == "ping":
                continue
            doc = loads_or_none(data)
            if not isinstance(doc, dict):  # truncated or garbage: text would silently go missing
                self._fail("upstream_error", f"malformed anthropic {name} event (not a JSON object)", out)
                break
            try:
                self._event(doc.get("type") or name, doc, out)
            except SHAPE_ERRORS as exc:
                self._fail("upstream_error", f"malformed anthropic {name} event ({type(exc).__name__})", out)
        return out

    def _event(self, kind: str | None, doc: dict[str, Any], out: list[bytes]) -> None:
        if kind == "content_block_delta":
            self._on_delta(doc, out)
        elif kind == "message_start":
            self._on_start(doc, out)
        elif kind == "content_block_start":
            self._on_block_start(doc, out)
        elif kind == "message_delta":
            self._on_message_delta(doc, out)
        elif kind == "message_stop":
            self._stopped = True
        elif kind == "error":
            error = doc.get("error")
            err = error if isinstance(error, dict) else {}
            self._fail(err.get("type") or "api_error", err.get("message") or "upstream error", out)

    def _fail(self, kind: str, message: str, out: list[bytes]) -> None:
        self.error = {"type": kind, "message": message}
        out.append(error_frame(message, kind))

    def _on_start(self, doc: dict[str, Any], out: list[bytes]) -> None:
        message = doc.get("message") or {}
        usage_from_anthropic(message.get("usage"), self.usage)
        writer = self._chunks(message.get("id"))
        if not self._started:
            self._started = True
            out.append(writer.delta({"role": "assistant", "content": ""}))

    def _ensure_started(self, out: list[bytes]) -> ChunkWriter:
        writer = self._chunks()
        if not self._started:
            self._started = True
            out.append(writer.delta({"role": "assistant", "content": ""}))
        return writer

    def _on_block_start(self, doc: dict[str, Any], out: list[bytes]) -> None:
        block = doc.get("content_block") or {}
        writer = self._ensure_started(out)
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                out.append(writer.content(block["text"]))
        elif kind == "tool_use":
            index = len(self._tool_index)
            self._tool_index[as_int(doc.get("index"))] = index
            call = {
                "index": index,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": ""},
            }
            out.append(writer.delta({"tool_calls": [call]}))

    def _on_delta(self, doc: dict[str, Any], out: list[bytes]) -> None:
        delta = doc.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                out.append(self._ensure_started(out).content(text))
        elif kind == "thinking_delta":
            thought = delta.get("thinking")
            if thought:
                out.append(self._ensure_started(out).delta({"reasoning_content": thought}))
        elif kind == "input_json_delta":
            fragment = delta.get("partial_json")
            index = self._tool_index.get(as_int(doc.get("index")))
            if fragment and index is not None:
                call = {"index": index, "function": {"arguments": fragment}}
                out.append(self._ensure_started(out).delta({"tool_calls": [call]}))

    def _on_message_delta(self, doc: dict[str, Any], out: list[bytes]) -> None:
        usage_from_anthropic(doc.get("usage"), self.usage)
        stop_reason = (doc.get("delta") or {}).get("stop_reason")
        if stop_reason:
            self.finish_reason = FINISH_REASONS.get(stop_reason, "stop")
            out.append(self._ensure_started(out).delta({}, finish_reason=self.finish_reason))


class AnthropicNativeUsageTap:
    """Reads usage from message_start and message_delta events of a native Anthropic stream."""

    __slots__ = ("_parser", "usage")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.usage = Usage()

    def feed(self, chunk: bytes) -> None:
        for name, data in self._parser.feed(chunk):
            self._see(name, data)

    def close(self) -> None:
        for name, data in self._parser.flush():
            self._see(name, data)

    def _see(self, name: str | None, data: bytes) -> None:
        if name in ("message_start", "message_delta") or (name is None and b'"usage"' in data):
            doc = loads_or_none(data)
            if isinstance(doc, dict):
                usage = (
                    doc["message"].get("usage") if isinstance(doc.get("message"), dict) else doc.get("usage")
                )
                usage_from_anthropic(usage, self.usage)
