"""A canonical chat.completion -> an Anthropic Messages `message`: content blocks (thinking from
`reasoning_content`, text, tool_use), stop_reason and usage (input tokens without the cached part).

stop_sequence: OpenAI and Gemini report a stop-sequence hit and a natural end alike (`stop`), so it is
reported only when the upstream names the matched sequence (vLLM's `stop_reason`); else end_turn."""

from __future__ import annotations

import os
from typing import Any

import orjson

from cerebra.providers import ProviderError, Usage

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id() -> str:
    return "msg_" + os.urandom(12).hex()


def stop_reason(finish: str | None, matched: Any, stops: list[str] | None) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for a chat finish_reason."""
    if finish == "stop" and isinstance(matched, str) and stops and matched in stops:
        return "stop_sequence", matched
    return STOP_REASONS.get(finish or "stop", "end_turn"), None


def anthropic_usage(usage: Usage) -> dict[str, int]:
    """Anthropic's usage: input_tokens excludes the tokens read from or written to the cache."""
    return {
        "input_tokens": max(0, usage.prompt_tokens - usage.cache_read_tokens - usage.cache_creation_tokens),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
    }


def tool_input(arguments: Any) -> dict:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise ProviderError("the model returned tool arguments that are not valid JSON") from None
    return value if isinstance(value, dict) else {"value": value}


def to_message(payload: bytes, model: str, usage: Usage, stops: list[str] | None) -> dict[str, Any]:
    """The Anthropic message for a chat.completion body."""
    doc = orjson.loads(payload)
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError("the answer has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    thinking = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thinking, str) and thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not text:
        content.append({"type": "text", "text": refusal})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "toolu_" + os.urandom(8).hex(),
                "name": fn.get("name", ""),
                "input": tool_input(fn.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    if refusal and not text:
        finish = "content_filter"
    reason, sequence = stop_reason(finish, choice.get("stop_reason"), stops)
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(usage),
    }
