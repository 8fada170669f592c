"""An Anthropic Messages request -> the canonical (OpenAI chat) request, and the list of what it drops.

Dropped for non-Anthropic targets (named in the `x-oco-dropped` response header): `cache_control`
(prompt caching is automatic or absent there), thinking and redacted_thinking blocks of earlier turns
(their signatures only mean something to Anthropic), `top_k` for OpenAI-compatible targets (no such
parameter), images inside tool results (chat tool messages carry text only), `service_tier`."""

from __future__ import annotations

from typing import Any

import orjson

from cerebra.dialects import reasoning
from cerebra.providers import ProviderError
from oco.errors import ApiError

# Anthropic-only tools (server tools and the computer-use/bash/editor tools) have a `type`; custom
# tools have none (or "custom").
CUSTOM_TOOL_TYPES = (None, "custom")
IGNORED_FIELDS = (
    "cache_control",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "inference_geo",
    "speed",
    "diagnostics",
    "user_profile_id",
    "workspace_id",
)


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_request_error")


class Translation:
    """The canonical request and what was left out of it."""

    __slots__ = ("body", "dropped")

    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        self.dropped: dict[str, None] = {}  # ordered set

    def drop(self, what: str) -> None:
        self.dropped[what] = None


def _image_part(block: dict, param: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid("image blocks need a source", f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise invalid("base64 sources need media_type and data", f"{param}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if kind == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise invalid("image sources must be base64 or url", f"{param}.source.type")


def _document_part(block: dict, param: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        file = {
            "file_data": f"data:{media};base64,{source['data']}",
            "filename": block.get("title") or "document",
        }
        return {"type": "file", "file": file}
    if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    raise invalid("documents must be base64 or text sources for this model", f"{param}.source")


def _blocks(content: Any, param: str) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid("content must be a string or a list of content blocks", param)
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid("each content block must be an object with a type", f"{param}[{j}]")
    return content


def _tool_result_text(block: dict, param: str, out: Translation) -> str:
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        parts = []
        for part in _blocks(content, f"{param}.content"):
            if part["type"] == "text":
                parts.append(part.get("text") or "")
            else:
                out.drop(f"tool_result {part['type']} blocks")
        text = "\n".join(parts)
    if block.get("is_error") is True:  # chat tool messages have no error flag: say it in the text
        text = "[tool error] " + text if text else "[tool error]"
    return text


def _user(message: dict, param: str, out: Translation, messages: list[dict]) -> None:
    parts: list[dict] = []
    for j, block in enumerate(_blocks(message.get("content"), f"{param}.content")):
        p = f"{param}.content[{j}]"
        kind = block["type"]
        if "cache_control" in block:
            out.drop("cache_control")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif kind == "image":
            parts.append(_image_part(block, p))
        elif kind == "document":
            parts.append(_document_part(block, p))
        elif kind == "tool_result":
            tool_use_id = block.get("tool_use_id")
            if not isinstance(tool_use_id, str) or not tool_use_id:
                raise invalid("tool_result blocks need tool_use_id", f"{p}.tool_use_id")
            if parts:  # chat wants tool messages right after the assistant turn: keep the order honest
                messages.append({"role": "user", "content": parts})
                parts = []
            messages.append(
                {"role": "tool", "tool_call_id": tool_use_id, "content": _tool_result_text(block, p, out)}
            )
        elif kind in ("thinking", "redacted_thinking"):
            out.drop("thinking blocks")
        else:
            raise invalid(f"content block type {kind!r} is served only by Anthropic deployments", f"{p}.type")
    if parts:
        if all(part["type"] == "text" for part in parts):
            messages.append({"role": "user", "content": "".join(part["text"] for part in parts)})
        else:
            messages.append({"role": "user", "content": parts})


def _assistant(message: dict, param: str, out: Translation, messages: list[dict]) -> None:
    texts: list[str] = []
    calls: list[dict] = []
    for j, block in enumerate(_blocks(message.get("content"), f"{param}.content")):
        p = f"{param}.content[{j}]"
        kind = block["type"]
        if "cache_control" in block:
            out.drop("cache_control")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            name, args = block.get("name"), block.get("input", {})
            if not isinstance(name, str) or not isinstance(block.get("id"), str):
                raise invalid("tool_use blocks need id and name", p)
            if not isinstance(args, dict):
                raise invalid("tool_use input must be an object", f"{p}.input")
            call = {"id": block["id"], "type": "function", "function": {"name": name}}
            call["function"]["arguments"] = orjson.dumps(args).decode()
            calls.append(call)
        elif kind in ("thinking", "redacted_thinking"):
            out.drop("thinking blocks")  # signed for Anthropic only; never a 400 elsewhere
        else:
            raise invalid(f"content block type {kind!r} is served only by Anthropic deployments", f"{p}.type")
    if not texts and not calls:
        return
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        msg["tool_calls"] = calls
    messages.append(msg)


def _system(system: Any, out: Translation) -> dict | None:
    if system is None:
        return None
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    if not isinstance(system, list):
        raise invalid("system must be a string or a list of text blocks", "system")
    texts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid("system blocks must be text blocks", f"system[{j}]")
        if "cache_control" in block:
            out.drop("cache_control")
        texts.append(block.get("text") or "")
    text = "\n\n".join(t for t in texts if t)
    return {"role": "system", "content": text} if text else None


def _tools(tools: Any, out: Translation) -> list[dict]:
    if not isinstance(tools, list):
        raise invalid("tools must be a list", "tools")
    result = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise invalid("each tool needs a name", f"tools[{i}]")
        if tool.get("type") not in CUSTOM_TOOL_TYPES:
            raise invalid(
                f"tool type {tool.get('type')!r} is served only by Anthropic deployments", f"tools[{i}].type"
            )
        if "cache_control" in tool:
            out.drop("cache_control")
        schema = tool.get("input_schema")
        fn: dict[str, Any] = {
            "name": tool["name"],
            "parameters": schema if isinstance(schema, dict) else {"type": "object", "properties": {}},
        }
        if tool.get("description"):
            fn["description"] = tool["description"]
        result.append({"type": "function", "function": fn})
    return result


def _tool_choice(choice: Any, body: dict) -> None:
    if not isinstance(choice, dict):
        raise invalid("tool_choice must be an object", "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise invalid("tool_choice.type must be auto, any, tool (with name) or none", "tool_choice")
    if choice.get("disable_parallel_tool_use") is True and body.get("tools"):
        body["parallel_tool_calls"] = False


def _output_format(config: Any, body: dict) -> None:
    """Structured outputs: output_config.format json_schema -> response_format json_schema."""
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        return
    if (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        raise invalid(
            "output_config.format must be {type: json_schema, schema: {...}}", "output_config.format"
        )
    body["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True},
    }


def to_chat(doc: dict, stream: bool, counting: bool = False) -> Translation:
    """Validate an Anthropic Messages body and build its canonical chat request (`counting`: a
    count_tokens body, which has no max_tokens)."""
    out = Translation()
    messages: list[dict] = []
    system = _system(doc.get("system"), out)
    if system is not None:
        messages.append(system)
    raw = doc.get("messages")
    if not isinstance(raw, list) or not raw:
        raise invalid("messages: at least one message is required", "messages")
    for i, message in enumerate(raw):
        param = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role == "user":
            _user(message, param, out, messages)
        elif role == "assistant":
            _assistant(message, param, out, messages)
        else:
            raise invalid(f"{param}.role must be user or assistant", f"{param}.role")
    body: dict[str, Any] = {"model": doc["model"], "messages": messages}
    max_tokens = doc.get("max_tokens", 1 if counting else None)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
        raise invalid("max_tokens: a positive integer is required", "max_tokens")
    if max_tokens == 0:
        raise invalid(
            "max_tokens 0 (prompt cache pre-warming) is served only by Anthropic deployments", "max_tokens"
        )
    body["max_completion_tokens"] = max_tokens
    stops = doc.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid("stop_sequences must be a list of strings", "stop_sequences")
        if stops:
            body["stop"] = stops
    for name in ("temperature", "top_p", "top_k"):
        value = doc.get(name)
        if value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise invalid(f"{name} must be a number", name)
            body[name] = value
    if doc.get("tools"):
        body["tools"] = _tools(doc["tools"], out)
    if doc.get("tool_choice") is not None:
        _tool_choice(doc["tool_choice"], body)
        if not body.get("tools"):
            body.pop("tool_choice", None)
    _output_format(doc.get("output_config"), body)
    metadata = doc.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        body["user"] = metadata["user_id"]
    try:
        body.update(reasoning.chat_fields(reasoning.from_anthropic(doc)))
    except ProviderError as exc:
        raise invalid(exc.message, exc.param) from None
    for name in IGNORED_FIELDS:
        if doc.get(name) is not None:
            out.drop(name)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    out.body = body
    return out


def for_provider(translation: Translation, provider: str) -> tuple[dict, list[str]]:
    """The canonical body as sent to one provider's adapter, and what is dropped for it."""
    body = translation.body
    dropped = list(translation.dropped)
    if provider == "openai" and "top_k" in body:
        body = {k: v for k, v in body.items() if k != "top_k"}
        dropped.append("top_k")
    return body, dropped
