"""A call's token estimate before it is made, from its body in any dialect: about four characters a
token over every string in it (roles, names and tool schemas included, so it errs high), an image or
other large encoded blob counted as about a thousand tokens, plus the output it may produce."""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
BLOB_CHARS = 20_000  # a string this long without spaces is an encoded image or file
BLOB_TOKENS = 1_000
OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def _chars(value: Any, depth: int = 0) -> tuple[int, int]:
    """(characters of text, encoded blobs) in a JSON value."""
    if isinstance(value, str):
        if len(value) >= BLOB_CHARS and " " not in value[:BLOB_CHARS]:
            return 0, 1
        return len(value), 0
    if depth > 64:
        return 0, 0
    chars = blobs = 0
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        c, b = _chars(item, depth + 1)
        chars += c
        blobs += b
    return chars, blobs


def prompt_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of a request body."""
    chars, blobs = _chars({k: v for k, v in body.items() if k != "model"})
    return chars // CHARS_PER_TOKEN + blobs * BLOB_TOKENS + 1


def output_limit(body: dict[str, Any]) -> int | None:
    """The output cap the caller set, if any (chat, Responses or Anthropic field names; Gemini's
    generationConfig.maxOutputTokens)."""
    for name in OUTPUT_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    config = body.get("generationConfig")
    if isinstance(config, dict):
        value = config.get("maxOutputTokens")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
