"""The Anthropic Messages API adapter: OpenAI chat requests to /v1/messages and the answers back.

JSON mode: the 2023-06-01 Messages API has no native JSON switch, so `response_format` json_object /
json_schema becomes an instruction appended to `system` ("reply with only a JSON object [matching this
schema]"). It is reliable with current Claude models but is not a guarantee enforced by the API.
Temperature is clamped to Anthropic's 0..1 range (OpenAI allows up to 2).
Reasoning (`reasoning_effort`, or `thinking` with a budget) becomes `thinking` by the table in
cerebra/dialects/reasoning.py; with thinking on, temperature and top_k are not sent (Anthropic rejects
them then). Thinking blocks come back as `reasoning_content` on the message and on stream deltas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from cerebra.dialects.reasoning import anthropic_thinking, from_chat
from cerebra.providers.anthropic_stream import (
    FINISH_REASONS,
    AnthropicNativeUsageTap,
    AnthropicStreamTranslator,
    usage_from_anthropic,
)
from cerebra.providers.base import (
    SHAPE_ERRORS,
    ProviderAdapter,
    ProviderError,
    UpstreamRequest,
    UpstreamTarget,
    Usage,
    content_text,
    fallback_error_text,
    forwardable_headers,
    function_tools,
    iter_messages,
    loads_or_none,
    max_tokens_of,
    native_url,
    parse_data_url,
    redact,
    replace_json_model,
    stop_list,
    tool_call_parts,
    upstream_object,
)
from cerebra.providers.chunks import completion, message_choice, tool_call

ANTHROPIC_VERSION = "2023-06-01"
JSON_OBJECT_INSTRUCTION = "Respond with only a single valid JSON object: no prose, no markdown code fences."
JSON_SCHEMA_INSTRUCTION = (
    "Respond with only a single valid JSON object that conforms to this JSON Schema "
    "(no prose, no markdown code fences):\n"
)


def messages_url(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base + "/messages" if base.endswith("/v1") else base + "/v1/messages"


def _block_with_cache(block: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _image_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise ProviderError("image_url needs a url", f"{param}.image_url.url")
    if url.startswith("data:"):
        mime, data = parse_data_url(url, f"{param}.image_url.url")
        source: dict[str, Any] = {"type": "base64", "media_type": mime, "data": data}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise ProviderError("image URLs must be data: or https: URLs", f"{param}.image_url.url")
    return _block_with_cache({"type": "image", "source": source}, part)


def _file_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    file = part.get("file")
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise ProviderError("file parts need file_data as a base64 data: URL", f"{param}.file.file_data")
    mime, data = parse_data_url(data_url, f"{param}.file.file_data")
    return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}


def _content_blocks(content: Any, param: str) -> str | list[dict[str, Any]]:
    """OpenAI user content -> Anthropic content (a string stays a string)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ProviderError("content must be a string or a list of parts", param)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append(_block_with_cache({"type": "text", "text": part["text"]}, part))
        elif kind == "image_url":
            blocks.append(_image_block(part, p))
        elif kind == "file":
            blocks.append(_file_block(part, p))
        else:
            raise ProviderError(f"unsupported content part type {kind!r} for anthropic", f"{p}.type")
    return blocks


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _append(messages: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Append a message, merging it into the previous one when roles repeat (Anthropic alternates)."""
    if messages and messages[-1]["role"] == role:
        prev = messages[-1]
        prev["content"] = _as_blocks(prev["content"]) + _as_blocks(content)
    else:
        messages.append({"role": role, "content": content})


def _system_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, list):
        blocks = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ProviderError("system content must be text", f"{param}[{j}]")
            if part.get("text"):
                blocks.append(_block_with_cache({"type": "text", "text": part["text"]}, part))
        return blocks
    text = content_text(content, param)
    return [{"type": "text", "text": text}] if text else []


def _json_instruction(body: dict) -> str | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return JSON_OBJECT_INSTRUCTION
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            return JSON_OBJECT_INSTRUCTION
        return JSON_SCHEMA_INSTRUCTION + orjson.dumps(schema).decode()
    if kind in (None, "text"):
        return None
    raise ProviderError(f"unsupported response_format type {kind!r}", "response_format.type")


def _tool_choice(body: dict) -> dict[str, Any] | None:
    choice = body.get("tool_choice")
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif (
        isinstance(choice, dict)
        and isinstance(choice.get("function"), dict)
        and choice["function"].get("name")
    ):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise ProviderError("tool_choice must be auto, required, none or a function", "tool_choice")
    if body.get("parallel_tool_calls") is False and body.get("tools"):
        out = out or {"type": "auto"}
        out["disable_parallel_tool_use"] = True
    return out


def _tool_names_in(messages: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for msg in messages:
        if msg["role"] == "assistant":
            for block in msg["content"]:
                if block.get("type") == "tool_use":
                    names[block["name"]] = None
    return list(names)


def build_messages_body(target: UpstreamTarget, body: dict, stream: bool) -> dict[str, Any]:
    """The Anthropic Messages request for an OpenAI chat request."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i, msg in enumerate(iter_messages(body)):
        role = msg["role"]
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_system_blocks(msg.get("content"), f"{param}.content"))
        elif role == "user":
            _append(messages, "user", _content_blocks(msg.get("content"), f"{param}.content"))
        elif role == "assistant":
            blocks = _as_blocks(content_text(msg.get("content"), f"{param}.content"))
            for call_id, name, args in tool_call_parts(msg, i):
                blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": args})
            if blocks:
                _append(messages, "assistant", blocks)
        elif role == "tool":
            tool_call_id = msg.get("tool_call_id")
            if not isinstance(tool_call_id, str) or not tool_call_id:
                raise ProviderError("tool messages need tool_call_id", f"{param}.tool_call_id")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_call_id}
            text = content_text(msg.get("content"), f"{param}.content")
            if text:
                result["content"] = text
            _append(messages, "user", [result])
        else:
            raise ProviderError(f"unsupported role {role!r}", f"{param}.role")
    if not messages:
        raise ProviderError("at least one non-system message is required", "messages")

    instruction = _json_instruction(body)
    if instruction:
        system.append({"type": "text", "text": instruction})

    max_tokens = max_tokens_of(body)
    out: dict[str, Any] = {
        "model": target.model,
        "max_tokens": max_tokens if max_tokens is not None else target.default_max_tokens,
        "messages": messages,
    }
    thinking = anthropic_thinking(from_chat(body), out["max_tokens"])
    if thinking is not None:
        out["thinking"] = thinking
    if system:
        if any("cache_control" in b for b in system):
            out["system"] = system
        else:
            out["system"] = "\n\n".join(b["text"] for b in system)
    stops = stop_list(body)
    if stops:
        out["stop_sequences"] = stops
    temperature = body.get("temperature")
    if temperature is not None and thinking is None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool) or temperature < 0:
            raise ProviderError("temperature must be a number >= 0", "temperature")
        out["temperature"] = min(temperature, 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if body.get("top_k") is not None and thinking is None:
        out["top_k"] = body["top_k"]
    n = body.get("n")
    if n not in (None, 1):
        raise ProviderError("anthropic returns one choice: n must be 1", "n")
    tools = function_tools(body)
    if tools:
        out["tools"] = [
            {
                "name": fn["name"],
                "description": fn.get("description") or "",
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
            for fn in tools
        ]
    choice = _tool_choice(body)
    if tools and choice is not None:
        out["tool_choice"] = choice
    elif not tools and (used := _tool_names_in(messages)):
        # Anthropic rejects tool_use/tool_result history without tool definitions: declare the tools the
        # history used, and forbid new calls (the client offered none).
        out["tools"] = [{"name": name, "input_schema": {"type": "object"}} for name in used]
        out["tool_choice"] = {"type": "none"}
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if stream:
        out["stream"] = True
    return out


def anthropic_headers(target: UpstreamTarget) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "anthropic-version": target.api_version or ANTHROPIC_VERSION,
    }
    if target.api_key:
        headers["x-api-key"] = target.api_key
    return headers


def completion_from_message(target: UpstreamTarget, doc: dict[str, Any]) -> tuple[bytes, Usage]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in doc.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thoughts.append(block.get("thinking") or "")
        elif kind == "tool_use":
            calls.append(
                tool_call(
                    block.get("id", ""),
                    block.get("name", ""),
                    orjson.dumps(block.get("input") or {}).decode(),
                )
            )
    text = "".join(texts)
    usage = usage_from_anthropic(doc.get("usage"))
    finish = FINISH_REASONS.get(doc.get("stop_reason") or "end_turn", "stop")
    choice = message_choice(0, text if text or not calls else None, calls, finish, "".join(thoughts))
    return completion(doc.get("id") or "chatcmpl-anthropic", target.model, [choice], usage), usage


class AnthropicAdapter(ProviderAdapter):
    name = "anthropic"

    def chat_request(self, target: UpstreamTarget, body: dict, stream: bool) -> UpstreamRequest:
        payload = orjson.dumps(build_messages_body(target, body, stream))
        return UpstreamRequest("POST", messages_url(target.api_base), anthropic_headers(target), payload)

    def chat_response(self, target: UpstreamTarget, data: bytes, request_body: dict) -> tuple[bytes, Usage]:
        doc = upstream_object(data, "anthropic")
        try:
            return completion_from_message(target, doc)
        except SHAPE_ERRORS as exc:
            raise ProviderError(f"unexpected anthropic message shape ({type(exc).__name__})") from None

    def stream_translator(self, target: UpstreamTarget, request_body: dict) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(target.model, request_body)

    def embeddings_request(self, target: UpstreamTarget, body: dict) -> UpstreamRequest:
        raise ProviderError("anthropic does not serve embeddings", "model")

    def embeddings_response(
        self, target: UpstreamTarget, data: bytes, request_body: dict
    ) -> tuple[bytes, Usage]:
        raise ProviderError("anthropic does not serve embeddings", "model")

    def error_message(self, status: int, data: bytes) -> str:
        doc = loads_or_none(data)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return redact(err["message"])
        return fallback_error_text(status, data)

    def native_request(
        self,
        target: UpstreamTarget,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        method: str | None = None,
    ) -> UpstreamRequest:
        out = forwardable_headers(headers)
        out.setdefault("anthropic-version", target.api_version or ANTHROPIC_VERSION)
        if body:
            out.setdefault("content-type", "application/json")
        if target.api_key:
            out["x-api-key"] = target.api_key
        url = native_url(target.api_base, path, query)
        return UpstreamRequest(
            method or ("POST" if body else "GET"), url, out, replace_json_model(body, target.model)
        )

    def native_usage(self, data: bytes) -> Usage:
        doc = loads_or_none(data)
        return usage_from_anthropic(doc.get("usage") if isinstance(doc, dict) else None)

    def native_stream_usage(self) -> AnthropicNativeUsageTap:
        return AnthropicNativeUsageTap()
