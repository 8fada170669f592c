"""Recording a streamed answer for the cache: the chat.completion.chunk frames the client was sent,
kept up to the entry size cap, and folded back into the chat.completion object a non-streamed call
would have got (content, reasoning, refusal, tool calls by index, logprobs, finish reasons, usage)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cerebra.providers import SSEParser, Usage


class StreamRecorder:
    """Wraps a relay's transform/close so every byte sent to the client is also kept (until `limit`)."""

    __slots__ = ("parts", "size", "limit", "overflow")

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.overflow = False

    def keep(self, out: bytes) -> bytes:
        if out and not self.overflow:
            self.size += len(out)
            if self.size > self.limit:
                self.overflow, self.parts = True, []
            else:
                self.parts.append(out)
        return out

    def tee(
        self, transform: Callable[[bytes], bytes], close: Callable[[], bytes]
    ) -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
        return (lambda chunk: self.keep(transform(chunk))), (lambda: self.keep(close()))


class _Choice:
    __slots__ = ("index", "role", "content", "reasoning", "refusal", "tools", "logprobs", "finish")

    def __init__(self, index: int) -> None:
        self.index = index
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.logprobs: list[Any] | None = None
        self.finish: str | None = None

    def add(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        if len(delta) == 1 and "content" in delta and choice.get("logprobs") is None:  # most chunks
            if isinstance(delta["content"], str):
                self.content.append(delta["content"])
            self.finish = choice.get("finish_reason") or self.finish
            return
        self.role = delta.get("role") or self.role
        for name, into in (("content", self.content), ("reasoning_content", self.reasoning)):
            if isinstance(delta.get(name), str):
                into.append(delta[name])
        if isinstance(delta.get("refusal"), str):
            self.refusal.append(delta["refusal"])
        for call in delta.get("tool_calls") or ():
            slot = self.tools.setdefault(
                call.get("index", len(self.tools)),
                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
            )
            slot["id"] = call.get("id") or slot["id"]
            function = call.get("function") or {}
            slot["function"]["name"] += function.get("name") or ""
            slot["function"]["arguments"] += function.get("arguments") or ""
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            self.logprobs = [*(self.logprobs or []), *logprobs["content"]]
        self.finish = choice.get("finish_reason") or self.finish

    def message_choice(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) if self.content or not self.tools else None,
            "refusal": "".join(self.refusal) or None,
        }
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        logprobs = {"content": self.logprobs, "refusal": None} if self.logprobs is not None else None
        return {"index": self.index, "message": message, "logprobs": logprobs, "finish_reason": self.finish}


def _data_of(raw: bytes) -> list[bytes]:
    """The `data` of each SSE event: plain `data: ...` blocks split directly (what the translators
    write), anything else (CR line ends, multi-line data, comments, event names) through the parser."""
    if b"\r" in raw:
        return [event.data for event in SSEParser().feed(raw + b"\n\n")]
    out: list[bytes] = []
    for block in raw.split(b"\n\n"):
        if block.startswith(b"data: ") and b"\n" not in block:
            out.append(block[6:])
        elif block:
            out += [event.data for event in SSEParser().feed(block + b"\n\n")]
    return out


def assemble(frames: list[bytes], usage: Usage) -> dict[str, Any] | None:
    """The chat.completion of a complete stream, or None when it was not complete (an error event, no
    choices, or a choice without its finish reason): a partial answer is never cached."""
    events = _data_of(b"".join(frames))
    head: dict[str, Any] = {}
    choices: dict[int, _Choice] = {}
    done = False
    for data in events:
        if data == b"[DONE]":
            done = True
            continue
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(doc, dict) or "error" in doc:
            return None
        if not head:
            head = {k: doc.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        for choice in doc.get("choices") or ():
            index = choice.get("index", 0)
            slot = choices.get(index)
            if slot is None:
                slot = choices[index] = _Choice(index)
            slot.add(choice)
    if not done or not choices or any(c.finish is None for c in choices.values()):
        return None
    completion = {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [choices[i].message_choice() for i in sorted(choices)],
        "usage": usage.to_openai(),
    }
    if head.get("system_fingerprint"):
        completion["system_fingerprint"] = head["system_fingerprint"]
    return completion
