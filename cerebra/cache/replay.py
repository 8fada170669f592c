"""Serving a cached answer in the shape the caller asked for: the chat.completion JSON, or the same
answer as chat.completion.chunk SSE frames (role, content, reasoning, tool calls, finish reason, the
usage chunk when `stream_options.include_usage`, then [DONE]). Each serve gets a fresh id and time."""

from __future__ import annotations

import time
from typing import Any

import orjson

from cerebra.providers.chunks import DONE_FRAME, ChunkWriter, new_id


def _fresh(completion: dict[str, Any]) -> dict[str, Any]:
    return {**completion, "id": new_id(), "created": int(time.time())}


def completion_body(completion: dict[str, Any]) -> bytes:
    return orjson.dumps(_fresh(completion))


def _choice_frames(writer: ChunkWriter, choice: dict[str, Any]) -> list[bytes]:
    index = choice.get("index", 0)
    message = choice.get("message") or {}
    frames = [writer.delta({"role": message.get("role", "assistant"), "content": ""}, index)]
    if message.get("reasoning_content"):
        frames.append(writer.delta({"reasoning_content": message["reasoning_content"]}, index))
    if message.get("content"):
        delta: dict[str, Any] = {"content": message["content"]}
        frames.append(writer.delta(delta, index))
    if message.get("refusal"):
        frames.append(writer.delta({"refusal": message["refusal"]}, index))
    for position, call in enumerate(message.get("tool_calls") or ()):
        frames.append(writer.delta({"tool_calls": [{"index": position, **call}]}, index))
    frames.append(writer.delta({}, index, choice.get("finish_reason")))
    return frames


def stream_body(completion: dict[str, Any], include_usage: bool) -> bytes:
    """The whole answer as SSE bytes (a cached answer needs no pacing: it is all there)."""
    fresh = _fresh(completion)
    writer = ChunkWriter(fresh["id"], fresh.get("model", ""), fresh["created"])
    frames: list[bytes] = []
    for choice in fresh.get("choices") or ():
        frames += _choice_frames(writer, choice)
    if include_usage and isinstance(fresh.get("usage"), dict):
        head = {"id": fresh["id"], "object": "chat.completion.chunk", "created": fresh["created"]}
        usage_chunk = {**head, "model": fresh.get("model", ""), "choices": [], "usage": fresh["usage"]}
        frames.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
    frames.append(DONE_FRAME)
    return b"".join(frames)
