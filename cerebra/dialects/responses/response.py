"""Responses API objects built from the canonical chat shape: the `response` object (echoing the request's
settings), its output items (reasoning, message with output_text, function_call) from a chat.completion,
usage, and the status a finish reason gives."""

from __future__ import annotations

import os
import time
from typing import Any

from cerebra.providers import Usage

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An OpenAI-style id: `resp_`, `msg_`, `fc_`, `rs_` + 48 hex digits."""
    return prefix + os.urandom(24).hex()


def skeleton(response_id: str, body: dict, created_at: int | None = None) -> dict[str, Any]:
    """The response object before any output: what the request asked for, status in_progress."""
    text = body.get("text") if isinstance(body.get("text"), dict) else None
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at if created_at is not None else int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {
            "effort": reasoning.get("effort") if reasoning else None,
            "summary": reasoning.get("summary") if reasoning else None,
        },
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": (text or {}).get("format") or {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def usage_object(usage: Usage, reasoning_tokens: int = 0) -> dict[str, Any]:
    """The Responses `usage` (input tokens include the cached ones, as in chat)."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def reasoning_tokens_of(usage: Any) -> int:
    """completion_tokens_details.reasoning_tokens of a chat usage object, when the provider gave it."""
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    value = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def finish(response: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    """Set status (completed or incomplete) and incomplete_details from the chat finish reason."""
    reason = INCOMPLETE_REASONS.get(finish_reason or "")
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    return response


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "status": status,
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }


def from_chat(response_id: str, body: dict, completion: dict, usage: Usage) -> dict[str, Any]:
    """The complete response object for a chat.completion answer."""
    response = skeleton(
        response_id, body, completion.get("created") if isinstance(completion.get("created"), int) else None
    )
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message: dict[str, Any] = choice["message"] if isinstance(choice.get("message"), dict) else {}
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(new_id("rs_"), reasoning))
    content = message.get("content")
    if not isinstance(content, str) or not content:
        content = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    if content:
        output.append(message_item(new_id("msg_"), content))
    for call in message.get("tool_calls") or []:
        call = call if isinstance(call, dict) else {}
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        arguments = function.get("arguments")
        output.append(
            function_call_item(
                new_id("fc_"),
                str(call.get("id") or new_id("call_")),
                str(function.get("name") or ""),
                arguments if isinstance(arguments, str) else "{}",
            )
        )
    response["output"] = output
    response["usage"] = usage_object(usage, reasoning_tokens_of(completion.get("usage")))
    return finish(response, choice.get("finish_reason"))


ITEM_PREFIXES = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "reasoning": "rs_",
}


def with_id(item: dict[str, Any]) -> dict[str, Any]:
    """An input item as stored: with an id (OpenAI gives every input item one), the caller's dict untouched."""
    if isinstance(item.get("id"), str):
        return item
    kind = item.get("type") or "message"
    return {**item, "id": new_id(ITEM_PREFIXES.get(kind, "item_"))}


def listed_item(item: dict[str, Any]) -> dict[str, Any]:
    """A stored input item as input_items lists it: a message's string content as one text part."""
    out = {"type": item.get("type") or "message", **item}
    if out["type"] == "message" and isinstance(out.get("content"), str):
        kind = "output_text" if out.get("role") == "assistant" else "input_text"
        out["content"] = [{"type": kind, "text": out["content"]}]
    out.setdefault("status", "completed")
    return out
