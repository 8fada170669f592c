"""Streaming Responses events from a provider's stream, event by event: the provider adapter's chat
translator turns upstream bytes into chat.completion.chunk frames, and this turns each chunk into the
documented Responses events (created, in_progress, output_item.added, content_part.added,
output_text.delta/.done, function_call_arguments.delta/.done, output_item.done, completed or incomplete
with usage; error and failed when the upstream fails), each with its `sequence_number`."""

from __future__ import annotations

from typing import Any

import orjson

from cerebra.dialects.responses.response import (
    finish,
    function_call_item,
    message_item,
    new_id,
    reasoning_item,
    reasoning_tokens_of,
    skeleton,
    usage_object,
)
from cerebra.providers import SSEParser, StreamTranslator, Usage


class _Item:
    """The output item being streamed: its kind, position, id and the text or arguments so far."""

    __slots__ = ("kind", "index", "id", "parts", "call_id", "name", "delta_head")

    def __init__(self, kind: str, index: int, item_id: str) -> None:
        self.kind = kind
        self.index = index
        self.id = item_id
        self.parts: list[str] = []
        self.call_id = ""
        self.name = ""
        self.delta_head = b""

    def text(self) -> str:
        return "".join(self.parts)

    def done(self) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.id, self.text())
        if self.kind == "reasoning":
            return reasoning_item(self.id, self.text())
        return function_call_item(self.id, self.call_id, self.name, self.text())


class ResponsesStream:
    """Feed upstream bytes, get Responses SSE bytes. `response` is the final object once closed."""

    def __init__(self, chat: StreamTranslator, response_id: str, body: dict) -> None:
        self.chat = chat
        self.response = skeleton(response_id, body)
        self.sequence = 0
        self.started = False
        self.output: list[dict[str, Any]] = []
        self.item: _Item | None = None
        self.tool_index: int | None = None
        self.finish_reason: str | None = None
        self.reasoning_tokens = 0
        self.failed: str | None = None
        self._parser = SSEParser()

    @property
    def usage(self) -> Usage:
        return self.chat.usage

    # ----------------------------------------------------------------- framing
    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload["type"] = kind
        payload["sequence_number"] = self.sequence
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _head(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        return [
            self._event("response.created", {"response": self.response}),
            self._event("response.in_progress", {"response": self.response}),
        ]

    # ----------------------------------------------------------------- feeding
    def feed(self, chunk: bytes) -> bytes:
        out = self._head()
        for frame in self.chat.feed(chunk):
            for _, data in self._parser.feed(frame):
                self._chunk(data, out)
        return b"".join(out)

    def close(self) -> bytes:
        out = self._head()
        for frame in self.chat.close():
            for _, data in self._parser.feed(frame):
                self._chunk(data, out)
        for _, data in self._parser.flush():
            self._chunk(data, out)
        error = getattr(self.chat, "error", None)
        if error and self.failed is None:
            self.failed = error.get("message") if isinstance(error, dict) else str(error)
        if self.failed is not None:
            out.append(self.fail(self.failed, closing=True))
            return b"".join(out)
        self._close_item(out)
        response = self._final(self.finish_reason)
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        out.append(self._event(kind, {"response": response}))
        return b"".join(out)

    def fail(self, message: str, closing: bool = False) -> bytes:
        """The stream broke off or the upstream sent an error: `error`, then `response.failed`."""
        out = [] if closing else self._head()
        self._close_item(out)
        response = self._final(None)
        response["status"] = "failed"
        response["error"] = {"code": "server_error", "message": message}
        response["incomplete_details"] = None
        out.append(self._event("error", {"code": "server_error", "message": message, "param": None}))
        out.append(self._event("response.failed", {"response": response}))
        return b"".join(out)

    def _final(self, finish_reason: str | None) -> dict[str, Any]:
        response = dict(self.response)
        response["output"] = self.output
        response["usage"] = usage_object(self.chat.usage, self.reasoning_tokens)
        self.response = finish(response, finish_reason)
        return self.response

    def _chunk(self, data: bytes, out: list[bytes]) -> None:
        if data == b"[DONE]":
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(doc, dict):
            return
        if "error" in doc:
            error = doc["error"]
            self.failed = str(error.get("message") if isinstance(error, dict) else error)
            return
        if isinstance(doc.get("usage"), dict):
            self.reasoning_tokens = reasoning_tokens_of(doc["usage"])
        for choice in doc.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if reasoning:
                self._text("reasoning", reasoning, out)
            content = delta.get("content")
            if content:
                self._text("message", content, out)
            for call in delta.get("tool_calls") or ():
                self._tool(call, out)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    # ----------------------------------------------------------------- items
    def _open(self, kind: str, out: list[bytes]) -> _Item:
        self._close_item(out)
        prefix = {"message": "msg_", "reasoning": "rs_", "function_call": "fc_"}[kind]
        item = _Item(kind, len(self.output), new_id(prefix))
        self.item = item
        self.output.append({})  # its place; the finished item replaces it
        return item

    def _text(self, kind: str, text: str, out: list[bytes]) -> None:
        item = self.item
        if item is None or item.kind != kind:
            item = self._open(kind, out)
            if kind == "message":
                added = message_item(item.id, "", "in_progress")
                added["content"] = []
                out.append(
                    self._event("response.output_item.added", {"output_index": item.index, "item": added})
                )
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                out.append(self._event("response.content_part.added", self._where(item, part=part)))
                kind_name = b"response.output_text.delta"
                head = {"item_id": item.id, "output_index": item.index, "content_index": 0, "logprobs": []}
            else:
                added = reasoning_item(item.id, "", "in_progress")
                out.append(
                    self._event("response.output_item.added", {"output_index": item.index, "item": added})
                )
                part = {"type": "summary_text", "text": ""}
                out.append(
                    self._event("response.reasoning_summary_part.added", self._summary(item, part=part))
                )
                kind_name = b"response.reasoning_summary_text.delta"
                head = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
            # the hot path: a precomputed frame head, one dumps of the delta per event
            item.delta_head = (
                b"event: " + kind_name + b'\ndata: {"type":"' + kind_name + b'",' + orjson.dumps(head)[1:-1]
            )
        item.parts.append(text)
        out.append(
            item.delta_head
            + b',"delta":'
            + orjson.dumps(text)
            + b',"sequence_number":%d}\n\n' % self.sequence
        )
        self.sequence += 1

    def _tool(self, call: dict, out: list[bytes]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self.item
        if item is None or item.kind != "function_call" or index != self.tool_index:
            item = self._open("function_call", out)
            self.tool_index = index
            item.call_id = str(call.get("id") or new_id("call_"))
            item.name = str(function.get("name") or "")
            added = function_call_item(item.id, item.call_id, item.name, "", "in_progress")
            out.append(self._event("response.output_item.added", {"output_index": item.index, "item": added}))
        arguments = function.get("arguments")
        if arguments:
            item.parts.append(arguments)
            delta = {"item_id": item.id, "output_index": item.index, "delta": arguments}
            out.append(self._event("response.function_call_arguments.delta", delta))

    def _close_item(self, out: list[bytes]) -> None:
        item = self.item
        if item is None:
            return
        self.item = None
        text = item.text()
        if item.kind == "message":
            out.append(
                self._event("response.output_text.done", {**self._where(item), "text": text, "logprobs": []})
            )
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out.append(self._event("response.content_part.done", self._where(item, part=part)))
        elif item.kind == "reasoning":
            out.append(
                self._event("response.reasoning_summary_text.done", {**self._summary(item), "text": text})
            )
            part = {"type": "summary_text", "text": text}
            out.append(self._event("response.reasoning_summary_part.done", self._summary(item, part=part)))
        else:
            done = {"item_id": item.id, "output_index": item.index, "name": item.name, "arguments": text}
            out.append(self._event("response.function_call_arguments.done", done))
        finished = item.done()
        self.output[item.index] = finished
        out.append(self._event("response.output_item.done", {"output_index": item.index, "item": finished}))

    @staticmethod
    def _where(item: _Item, **extra: Any) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index, "content_index": 0, **extra}

    @staticmethod
    def _summary(item: _Item, **extra: Any) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index, "summary_index": 0, **extra}
