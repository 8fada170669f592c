"""What the fake upstreams say: a scripted `Reply` and the builders of each provider's documented
bodies and SSE frames (OpenAI chat/embeddings, Anthropic Messages, Gemini generateContent/embed)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Reply:
    """One scripted answer of a fake upstream (queue them with `fake.enqueue(...)`)."""

    text: str = "Hello from the fake upstream."
    status: int = 200
    error_message: str | None = None  # message of the provider-shaped error body when status >= 400
    retry_after: str | None = None  # Retry-After header value
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before sending the response headers
    hang: bool = False  # never answer (until the fake stops): the client's timeout fires
    drop: bool = False  # close the connection without any HTTP response
    drop_after_events: int | None = None  # stream: close the connection after this many events
    reset_after_events: int | None = None  # stream: send a TCP RST (SO_LINGER 0) after this many events
    hang_after_events: int | None = None  # stream: stop sending (connection left open) after this many
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, arguments)
    refusal: bool = False  # openai refusal / anthropic stop_reason refusal / gemini finishReason SAFETY
    prompt_blocked: bool = False  # gemini: promptFeedback.blockReason, no candidates
    finish: str | None = (
        None  # provider-native finish/stop reason override ("length", "max_tokens", "MAX_TOKENS")
    )
    usage: tuple[int, int] = (11, 7)  # (prompt/input tokens, completion/output tokens)
    cache_read: int = 0  # cached prompt tokens (OpenAI cached_tokens / Anthropic cache_read / Gemini cached)
    cache_creation: int = 0  # Anthropic cache_creation_input_tokens
    cache_creation_1h: int = (
        0  # the part of cache_creation written to the 1-hour cache (usage.cache_creation)
    )
    stream_events: int | None = None  # stream exactly this many content events (benchmarks)
    pace_s: float = 0.0  # gap between stream events
    stream_error: str | None = None  # stream: send the provider's error event after the first content event
    raw_stream: list[bytes] | None = None  # stream: write exactly these byte pieces (no framing added)
    json_body: Any = None  # non-stream: answer exactly this JSON
    raw: tuple[int, str, bytes] | None = (
        None  # answer exactly this (status, content type, body), stream or not
    )
    reasoning: str | None = None  # thinking text: OpenAI-compatible reasoning_content, Anthropic
    # thinking block (with `signature`), Gemini thought part
    signature: str = "EqQBCkYIBRgCKkDfakeSignature=="  # Anthropic thinking block signature
    reasoning_tokens: int = 0  # part of the output tokens spent reasoning (reported where the API does)
    stop_sequence: str | None = None  # set by the fakes when a request's stop sequence cut the text


def apply_stop(reply: Reply, stops: Any) -> Reply:
    """Cut the text at the first of the request's stop sequences (excluded), as the providers do."""
    if not isinstance(stops, list) or not reply.text:
        return reply
    hits = [(reply.text.find(s), s) for s in stops if isinstance(s, str) and s and s in reply.text]
    if not hits:
        return reply
    at, stop = min(hits)
    return dataclasses.replace(reply, text=reply.text[:at], stop_sequence=stop)


def pieces(reply: Reply) -> list[str]:
    """The text split into stream deltas: word by word, or `stream_events` deltas."""
    words = [w + " " for w in reply.text.split(" ")]
    words[-1] = words[-1][:-1]
    if reply.stream_events is None:
        return [w for w in words if w]
    return [words[i % len(words)] or "." for i in range(reply.stream_events)]


def fake_id(prefix: str) -> str:
    return prefix + os.urandom(8).hex()


def fake_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit-ish vector for `text` (same text, same vector)."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims // 32 + 1))[:dims]
    return [round((b - 127.5) / 127.5, 6) for b in raw]


def sse(data: Any, event: str | None = None, crlf: bool = False) -> bytes:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + body + (b"\r\n\r\n" if crlf else b"\n\n")


def _split_json(args: dict[str, Any]) -> list[str]:
    text = orjson.dumps(args).decode()
    third = max(1, len(text) // 3)
    return [text[:third], text[third : 2 * third], text[2 * third :]]


# ------------------------------------------------------------------------------------------- OpenAI

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
}


def openai_error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = _OPENAI_ERROR_TYPES.get(status) or ("rate_limit_exceeded" if status == 429 else "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def openai_usage(reply: Reply) -> dict[str, Any]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens, "audio_tokens": 0},
    }


def _openai_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}{os.urandom(6).hex()}",
            "type": "function",
            "function": {"name": n, "arguments": orjson.dumps(a).decode()},
        }
        for i, (n, a) in enumerate(reply.tool_calls)
    ]


def openai_completion(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if reply.reasoning:  # OpenAI-compatible servers (vLLM, DeepSeek, ...) return reasoning here
        message["reasoning_content"] = reply.reasoning
    finish = "stop"
    if reply.tool_calls:
        message["content"] = None
        message["tool_calls"] = _openai_calls(reply)
        finish = "tool_calls"
    elif reply.refusal:
        message["content"] = None
        message["refusal"] = "I'm sorry, I can't help with that."
    return {
        "id": fake_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish or finish}
        ],
        "usage": openai_usage(reply),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def openai_stream(model: str, reply: Reply, include_usage: bool) -> list[bytes]:
    """chat.completion.chunk frames as OpenAI sends them, ending with `data: [DONE]`."""
    head = {
        "id": fake_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    head.update({"service_tier": "default", "system_fingerprint": "fp_fake"})
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**head, "choices": [choice], **extra})

    frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if reply.reasoning:
        for piece in reply.reasoning.split(" "):
            frames.append(chunk({"reasoning_content": piece + " "}))
    finish = "stop"
    if reply.tool_calls:
        finish = "tool_calls"
        for i, call in enumerate(_openai_calls(reply)):
            first = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            frames.append(chunk({"tool_calls": [first]}))
            for fragment in _split_json(orjson.loads(call["function"]["arguments"])):
                frames.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}))
    elif reply.refusal:
        frames.append(chunk({"refusal": "I'm sorry, I can't help with that."}))
    else:
        for piece in pieces(reply):
            frames.append(chunk({"content": piece}))
    if reply.stream_error is not None:
        err = openai_error(500, reply.stream_error)
        return frames[:2] + [sse(err)]
    frames.append(chunk({}, reply.finish or finish))
    if include_usage:
        frames.append(sse({**head, "choices": [], "usage": openai_usage(reply)}))
    frames.append(b"data: [DONE]\n\n")
    return frames


def openai_embeddings(model: str, inputs: list[str], dims: int, encoding: str | None) -> dict[str, Any]:
    data = []
    for i, text in enumerate(inputs):
        vec = fake_vector(text, dims)
        value: Any = (
            base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if encoding == "base64" else vec
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = sum(max(1, len(t.split())) for t in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------------------------------- Anthropic

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": fake_id("req_")}


def _anthropic_usage(reply: Reply, output: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.usage[0],
        "cache_creation_input_tokens": reply.cache_creation,
        "cache_read_input_tokens": reply.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": reply.cache_creation - reply.cache_creation_1h,
            "ephemeral_1h_input_tokens": reply.cache_creation_1h,
        },
        "output_tokens": output,
        "service_tier": "standard",
    }


def _anthropic_stop(reply: Reply) -> str:
    if reply.stop_sequence is not None:
        return "stop_sequence"
    return reply.finish or ("tool_use" if reply.tool_calls else "refusal" if reply.refusal else "end_turn")


def anthropic_message(model: str, reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append({"type": "thinking", "thinking": reply.reasoning, "signature": reply.signature})
    if reply.text and not reply.refusal:
        content.append({"type": "text", "text": reply.text})
    for i, (name, args) in enumerate(reply.tool_calls):
        content.append(
            {"type": "tool_use", "id": f"toolu_{i}{os.urandom(6).hex()}", "name": name, "input": args}
        )
    return {
        "id": fake_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _anthropic_stop(reply),
        "stop_sequence": reply.stop_sequence,
        "usage": _anthropic_usage(reply, reply.usage[1]),
    }


def anthropic_stream(model: str, reply: Reply) -> list[bytes]:
    """Messages SSE exactly as documented: `event: <type>\\ndata: {...}\\n\\n`, with a ping."""
    start = anthropic_message(model, reply)
    start.update({"content": [], "stop_reason": None, "usage": _anthropic_usage(reply, 1)})
    frames = [sse({"type": "message_start", "message": start}, "message_start")]
    index = 0
    if reply.reasoning:
        block = {"type": "thinking", "thinking": "", "signature": ""}
        frames.append(
            sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
        )
        for piece in reply.reasoning.split(" "):
            delta = {"type": "thinking_delta", "thinking": piece + " "}
            frames.append(
                sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
            )
        delta = {"type": "signature_delta", "signature": reply.signature}
        frames.append(sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"))
        frames.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        index = 1
    if not reply.refusal:
        first = index
        frames.append(
            sse(
                {
                    "type": "content_block_start",
                    "index": first,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
        )
        frames.append(sse({"type": "ping"}, "ping"))
        before_text = len(frames)
        for piece in pieces(reply) if reply.text else []:
            delta = {
                "type": "content_block_delta",
                "index": first,
                "delta": {"type": "text_delta", "text": piece},
            }
            frames.append(sse(delta, "content_block_delta"))
        if reply.stream_error is not None:
            err = {"type": "error", "error": {"type": "overloaded_error", "message": reply.stream_error}}
            return frames[: before_text + 1] + [sse(err, "error")]  # after the first text delta
        frames.append(sse({"type": "content_block_stop", "index": first}, "content_block_stop"))
        index = first + 1
    for name, args in reply.tool_calls:
        block = {"type": "tool_use", "id": f"toolu_{index}{os.urandom(6).hex()}", "name": name, "input": {}}
        frames.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"
            )
        )
        for fragment in ["", *_split_json(args)]:
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": fragment},
            }
            frames.append(sse(delta, "content_block_delta"))
        frames.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _anthropic_stop(reply), "stop_sequence": reply.stop_sequence},
    }
    delta["usage"] = {"output_tokens": reply.usage[1]}
    frames.append(sse(delta, "message_delta"))
    frames.append(sse({"type": "message_stop"}, "message_stop"))
    return frames


# ------------------------------------------------------------------------------------------- Gemini

_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}


def _gemini_usage(reply: Reply, with_output: bool = True) -> dict[str, Any]:
    prompt, completion = reply.usage
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "totalTokenCount": prompt + (completion if with_output else 0),
    }
    if with_output:
        meta["candidatesTokenCount"] = completion - reply.reasoning_tokens
        if reply.reasoning_tokens:
            meta["thoughtsTokenCount"] = reply.reasoning_tokens
    if reply.cache_read:
        meta["cachedContentTokenCount"] = reply.cache_read
    meta["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return meta


_SAFETY_RATINGS = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]


def gemini_response(model: str, reply: Reply) -> dict[str, Any]:
    if reply.prompt_blocked:
        return {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY_RATINGS},
            "usageMetadata": {"promptTokenCount": reply.usage[0], "totalTokenCount": reply.usage[0]},
            "modelVersion": model,
            "responseId": fake_id(""),
        }
    candidate: dict[str, Any] = {"index": 0}
    if reply.refusal:
        candidate.update({"finishReason": reply.finish or "SAFETY", "safetyRatings": _SAFETY_RATINGS})
    else:
        parts: list[dict[str, Any]] = [{"text": reply.reasoning, "thought": True}] if reply.reasoning else []
        parts += [{"text": reply.text}] if reply.text and not reply.tool_calls else []
        parts += [{"functionCall": {"name": n, "args": a}} for n, a in reply.tool_calls]
        candidate.update(
            {"content": {"parts": parts, "role": "model"}, "finishReason": reply.finish or "STOP"}
        )
    return {
        "candidates": [candidate],
        "usageMetadata": _gemini_usage(reply),
        "modelVersion": model,
        "responseId": fake_id(""),
    }


def gemini_stream(model: str, reply: Reply) -> list[bytes]:
    """streamGenerateContent?alt=sse frames as Google sends them: `data: {...}\\r\\n\\r\\n`."""
    if reply.prompt_blocked or reply.refusal:
        return [sse(gemini_response(model, reply), crlf=True)]
    rid = fake_id("")
    frames = []
    texts = [] if reply.tool_calls else pieces(reply)
    if reply.reasoning:
        cand = {
            "content": {"parts": [{"text": reply.reasoning, "thought": True}], "role": "model"},
            "index": 0,
        }
        doc = {"candidates": [cand], "usageMetadata": _gemini_usage(reply, False), "responseId": rid}
        frames.append(sse(doc, crlf=True))
    for piece in texts:
        cand = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        doc = {
            "candidates": [cand],
            "usageMetadata": _gemini_usage(reply, False),
            "modelVersion": model,
            "responseId": rid,
        }
        frames.append(sse(doc, crlf=True))
    if reply.stream_error is not None:
        return frames[:1] + [sse(gemini_error(500, reply.stream_error), crlf=True)]
    last_parts: list[dict[str, Any]] = [{"functionCall": {"name": n, "args": a}} for n, a in reply.tool_calls]
    if not last_parts:
        last_parts = [{"text": ""}]
    cand = {
        "content": {"parts": last_parts, "role": "model"},
        "finishReason": reply.finish or "STOP",
        "index": 0,
    }
    doc = {
        "candidates": [cand],
        "usageMetadata": _gemini_usage(reply),
        "modelVersion": model,
        "responseId": rid,
    }
    frames.append(sse(doc, crlf=True))
    return frames


def gemini_embedding(text: str, dims: int) -> dict[str, Any]:
    return {"values": fake_vector(text, dims)}


# ------------------------------------------------------------------------------ OpenAI Responses API


def openai_responses_usage(reply: Reply) -> dict[str, Any]:
    prompt, completion = reply.usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": reply.cache_read},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def openai_response(model: str, reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    """A `response` object as POST /v1/responses answers (status completed)."""
    output: list[dict[str, Any]] = []
    if reply.tool_calls:
        for i, (name, args) in enumerate(reply.tool_calls):
            output.append(
                {
                    "id": fake_id("fc_"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": f"call_{i}{os.urandom(6).hex()}",
                    "name": name,
                    "arguments": orjson.dumps(args).decode(),
                }
            )
    else:
        text = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
        output.append(
            {
                "id": fake_id("msg_"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    return {
        "id": fake_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": request.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": request.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": openai_responses_usage(reply),
        "user": None,
        "metadata": {},
    }


def openai_responses_stream(model: str, reply: Reply, request: dict[str, Any]) -> list[bytes]:
    """The documented event sequence of a streamed text response, `event:` lines and sequence numbers."""
    final = openai_response(model, reply, request)
    item = final["output"][0]
    start = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ]
    for piece in pieces(reply):
        events.append(
            {
                "type": "response.output_text.delta",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            }
        )
    events += [
        {
            "type": "response.output_text.done",
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
            "text": reply.text,
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "item_id": item["id"],
            "output_index": 0,
            "content_index": 0,
            "part": item["content"][0],
        },
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": final},
    ]
    return [sse({**event, "sequence_number": n}, event["type"]) for n, event in enumerate(events)]
