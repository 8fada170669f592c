"""Canonical chat.completion.chunk frames -> Anthropic Messages SSE events, one frame at a time (never
buffered): message_start and ping first, then content_block_start / _delta (thinking_delta, text_delta,
input_json_delta) / _stop per block, and message_delta (stop_reason, usage) and message_stop at the end;
an upstream error becomes an `error` event that ends the stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cerebra.dialects.anthropic.response import anthropic_usage, message_id, stop_reason
from cerebra.providers import Usage
from cerebra.providers.base import loads_or_none

DONE = b"data: [DONE]"
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%s}}\n\n'
)
_THINKING_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"thinking_delta","thinking":%s}}\n\n'
)
_JSON_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"input_json_delta","partial_json":%s}}\n\n'
)
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'


def event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(message: str, kind: str = "api_error") -> bytes:
    return event("error", {"type": "error", "error": {"type": kind, "message": message}})


class AnthropicEventWriter:
    """Feeds on the frames of a provider's chat stream translator; emits Anthropic event bytes."""

    __slots__ = (
        "_model",
        "_stops",
        "_usage_of",
        "_started",
        "_block",
        "_index",
        "_tools",
        "_finish",
        "_matched",
        "_ended",
        "error",
    )

    def __init__(self, model: str, stops: list[str] | None, usage_of: Callable[[], Usage]) -> None:
        self._model = model
        self._stops = stops
        self._usage_of = usage_of
        self._started = False
        self._block: tuple[str, int] | None = None  # (kind, chat tool index or -1) of the open block
        self._index = -1  # Anthropic content block index of the open block
        self._tools: dict[int, int] = {}  # chat tool_calls index -> Anthropic block index
        self._finish: str | None = None
        self._matched: Any = None
        self._ended = False
        self.error: str | None = None

    def feed(self, frames: list[bytes]) -> bytes:
        if not frames or self._ended:
            return b""
        out: list[bytes] = []
        for frame in frames:
            self._frame(frame, out)
            if self._ended:
                break
        return b"".join(out)

    def close(self, frames: list[bytes]) -> bytes:
        tail = self.feed(frames)
        if self._ended:
            return tail
        out = [tail]
        self._end(out)
        return b"".join(out)

    # ------------------------------------------------------------------------------------- frames
    def _frame(self, frame: bytes, out: list[bytes]) -> None:
        payload = frame[6:].rstrip(b"\r\n") if frame.startswith(b"data: ") else frame.strip()
        if payload == b"[DONE]":
            self._end(out)
            return
        doc = loads_or_none(payload)
        if not isinstance(doc, dict):
            return
        if doc.get("error"):
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
            self.error = str(err.get("message") or "upstream error")
            self._start(out)
            out.append(error_event(self.error))
            self._ended = True
            return
        self._start(out)
        for choice in doc.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, out)

    def _choice(self, choice: dict, out: list[bytes]) -> None:
        delta = choice.get("delta") or {}
        thought = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(thought, str) and thought:
            index = self._open("thinking", -1, {"type": "thinking", "thinking": "", "signature": ""}, out)
            out.append(_THINKING_DELTA % (index, orjson.dumps(thought)))
        text = delta.get("content") or delta.get("refusal")  # a refusal is said as text (stop: refusal)
        if isinstance(text, str) and text:
            index = self._open("text", -1, {"type": "text", "text": ""}, out)
            out.append(_TEXT_DELTA % (index, orjson.dumps(text)))
        for call in delta.get("tool_calls") or ():
            self._tool_delta(call, out)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
            self._matched = choice.get("stop_reason")
            self._close_block(out)

    def _tool_delta(self, call: dict, out: list[bytes]) -> None:
        position = call.get("index", 0)
        fn = call.get("function") or {}
        index = self._tools.get(position)
        if index is None:  # a new call: its block opens with id and name
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": fn.get("name") or "",
                "input": {},
            }
            index = self._open("tool", position, block, out, force=True)
            self._tools[position] = index
        elif self._block != ("tool", position):
            return  # a late fragment of a closed block cannot be placed in Anthropic's sequential stream
        arguments = fn.get("arguments")
        if arguments:
            out.append(_JSON_DELTA % (index, orjson.dumps(arguments)))

    # ------------------------------------------------------------------------------------- blocks
    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(event("message_start", {"type": "message_start", "message": message}))
        out.append(PING)

    def _open(self, kind: str, key: int, block: dict, out: list[bytes], force: bool = False) -> int:
        if self._block == (kind, key) and not force:
            return self._index
        self._close_block(out)
        self._index += 1
        self._block = (kind, key)
        out.append(
            event(
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )
        return self._index

    def _close_block(self, out: list[bytes]) -> None:
        if self._block is not None:
            out.append(_BLOCK_STOP % self._index)
            self._block = None

    def _end(self, out: list[bytes]) -> None:
        self._start(out)
        self._close_block(out)
        reason, sequence = stop_reason(self._finish, self._matched, self._stops)
        out.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": anthropic_usage(self._usage_of()),
                },
            )
        )
        out.append(MESSAGE_STOP)
        self._ended = True
