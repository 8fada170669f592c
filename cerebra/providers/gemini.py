"""The Gemini API adapter (generativelanguage v1beta): OpenAI chat and embeddings requests to
generateContent / streamGenerateContent?alt=sse / embedContent / batchEmbedContents and back.

Gemini returns no token count for embeddings: usage is 0 unless the response carries usageMetadata.
Reasoning (`reasoning_effort`, or `thinking` with a budget) becomes generationConfig.thinkingConfig by the
table in cerebra/dialects/reasoning.py; thought parts come back as `reasoning_content`.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from array import array
from collections.abc import Mapping
from typing import Any

import orjson

from cerebra.dialects.reasoning import from_chat, gemini_thinking_config
from cerebra.providers.base import (
    SHAPE_ERRORS,
    ProviderAdapter,
    ProviderError,
    UpstreamRequest,
    UpstreamTarget,
    Usage,
    as_int,
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
    stop_list,
    tool_call_parts,
    upstream_object,
)
from cerebra.providers.chunks import completion, message_choice, new_id, tool_call
from cerebra.providers.gemini_schema import to_gemini_schema
from cerebra.providers.gemini_stream import (
    GeminiNativeUsageTap,
    GeminiStreamTranslator,
    finish_reason_of,
    usage_from_gemini,
)


def model_path(model: str) -> str:
    """`gemini-2.0-flash` -> `models/gemini-2.0-flash`; `tunedModels/x` stays as it is."""
    return model if "/" in model else "models/" + model


def _version_base(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base if base.endswith(("/v1beta", "/v1", "/v1alpha")) else base + "/v1beta"


def gemini_url(target: UpstreamTarget, method: str) -> str:
    return f"{_version_base(target.api_base)}/{model_path(target.model)}:{method}"


def _headers(target: UpstreamTarget) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if target.api_key:
        headers["x-goog-api-key"] = target.api_key
    return headers


def _media_part(url: str, param: str) -> dict[str, Any]:
    if url.startswith("data:"):
        mime, data = parse_data_url(url, param)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("https://", "http://", "gs://")):
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise ProviderError("media URLs must be data:, https: or gs: URLs", param)


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise ProviderError("content must be a string or a list of parts", param)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise ProviderError("image_url needs a url", f"{p}.image_url.url")
            parts.append(_media_part(url, f"{p}.image_url.url"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            fmt = audio.get("format") or "wav"
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": audio.get("data") or ""}})
        elif kind == "file":
            file = part.get("file") or {}
            if not isinstance(file.get("file_data"), str):
                raise ProviderError("file parts need file_data as a data: URL", f"{p}.file.file_data")
            parts.append(_media_part(file["file_data"], f"{p}.file.file_data"))
        else:
            raise ProviderError(f"unsupported content part type {kind!r} for gemini", f"{p}.type")
    return parts


def _tool_response(content: Any, param: str) -> dict[str, Any]:
    text = content_text(content, param)
    value = loads_or_none(text.encode()) if text else None
    if isinstance(value, dict):
        return value
    return {"content": value if value is not None else text}


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    elif parts:
        contents.append({"role": role, "parts": parts})


def _contents(body: dict) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(contents, systemInstruction parts) of an OpenAI chat request."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, msg in enumerate(iter_messages(body)):
        role = msg["role"]
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            text = content_text(msg.get("content"), f"{param}.content")
            if text:
                system.append({"text": text})
        elif role == "user":
            _append(contents, "user", _user_parts(msg.get("content"), f"{param}.content"))
        elif role == "assistant":
            text = content_text(msg.get("content"), f"{param}.content")
            parts: list[dict[str, Any]] = [{"text": text}] if text else []
            for call_id, name, args in tool_call_parts(msg, i):
                call_names[call_id] = name
                parts.append({"functionCall": {"name": name, "args": args}})
            _append(contents, "model", parts)
        elif role == "tool":
            tool_call_id = msg.get("tool_call_id")
            if not isinstance(tool_call_id, str) or not tool_call_id:
                raise ProviderError("tool messages need tool_call_id", f"{param}.tool_call_id")
            tool_name = call_names.get(tool_call_id) or msg.get("name")
            if not isinstance(tool_name, str) or not tool_name:
                raise ProviderError("no earlier assistant tool call has this id", f"{param}.tool_call_id")
            response = _tool_response(msg.get("content"), f"{param}.content")
            _append(contents, "user", [{"functionResponse": {"name": tool_name, "response": response}}])
        else:
            raise ProviderError(f"unsupported role {role!r}", f"{param}.role")
    if not contents:
        raise ProviderError("at least one non-system message is required", "messages")
    return contents, system


def _tools(body: dict) -> list[dict[str, Any]]:
    declarations = []
    for fn in function_tools(body):
        decl: dict[str, Any] = {"name": fn["name"], "description": fn.get("description") or ""}
        params = fn.get("parameters")
        if isinstance(params, dict) and (params.get("properties") or params.get("type") != "object"):
            schema = to_gemini_schema(params)
            if schema is not None:
                decl["parameters"] = schema
            else:
                decl["parametersJsonSchema"] = params
        declarations.append(decl)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(body: dict) -> dict[str, Any] | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if choice in ("auto", "required", "none"):
        mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if (
        isinstance(choice, dict)
        and isinstance(choice.get("function"), dict)
        and choice["function"].get("name")
    ):
        return {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
        }
    raise ProviderError("tool_choice must be auto, required, none or a function", "tool_choice")


_GENERATION_FIELDS = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
    ("seed", "seed"),
    ("n", "candidateCount"),
)


def _generation_config(body: dict, model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    thinking = gemini_thinking_config(from_chat(body), model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    max_tokens = max_tokens_of(body)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for ours, theirs in _GENERATION_FIELDS:
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stops = stop_list(body)
    if stops:
        config["stopSequences"] = stops
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        elif kind not in (None, "text"):
            raise ProviderError(f"unsupported response_format type {kind!r}", "response_format.type")
        spec = fmt.get("json_schema")
        if kind == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            schema = to_gemini_schema(spec["schema"])
            if schema is not None:
                config["responseSchema"] = schema
            else:
                config["responseJsonSchema"] = spec["schema"]
    return config


def build_generate_body(body: dict, model: str = "") -> dict[str, Any]:
    contents, system = _contents(body)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = _tools(body)
    if tools:
        out["tools"] = tools
    tool_config = _tool_config(body)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    config = _generation_config(body, model)
    if config:
        out["generationConfig"] = config
    return out


def completion_from_response(target: UpstreamTarget, doc: dict[str, Any]) -> tuple[bytes, Usage]:
    usage = usage_from_gemini(doc.get("usageMetadata"))
    choices: list[dict[str, Any]] = []
    for position, cand in enumerate(doc.get("candidates") or ()):
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (cand.get("content") or {}).get("parts") or ():
            if "text" in part and part.get("thought"):
                thoughts.append(part["text"])
            elif "text" in part:
                texts.append(part["text"])
            elif "functionCall" in part:
                fc = part["functionCall"]
                calls.append(
                    tool_call(
                        new_id("call_"), fc.get("name", ""), orjson.dumps(fc.get("args") or {}).decode()
                    )
                )
        text = "".join(texts)
        finish = finish_reason_of(cand.get("finishReason"), bool(calls))
        choices.append(
            message_choice(
                as_int(cand.get("index", position)),
                text if text or not calls else None,
                calls,
                finish,
                "".join(thoughts),
            )
        )
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        choices.append(message_choice(0, "", [], "content_filter"))
    id_ = doc.get("responseId") or new_id()
    return completion(id_, target.model, choices, usage), usage


def _embedding_value(values: list[float], encoding: Any) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(array("f", values).tobytes()).decode()
    return values


class GeminiAdapter(ProviderAdapter):
    name = "gemini"

    def chat_request(self, target: UpstreamTarget, body: dict, stream: bool) -> UpstreamRequest:
        url = (
            gemini_url(target, "streamGenerateContent") + "?alt=sse"
            if stream
            else gemini_url(target, "generateContent")
        )
        return UpstreamRequest(
            "POST", url, _headers(target), orjson.dumps(build_generate_body(body, target.model))
        )

    def chat_response(self, target: UpstreamTarget, data: bytes, request_body: dict) -> tuple[bytes, Usage]:
        doc = upstream_object(data, "gemini")
        try:
            return completion_from_response(target, doc)
        except SHAPE_ERRORS as exc:
            raise ProviderError(f"unexpected gemini response shape ({type(exc).__name__})") from None

    def stream_translator(self, target: UpstreamTarget, request_body: dict) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(target.model, request_body)

    def embeddings_request(self, target: UpstreamTarget, body: dict) -> UpstreamRequest:
        inputs = body.get("input")
        dims = body.get("dimensions")
        extra = {"outputDimensionality": dims} if isinstance(dims, int) else {}
        if isinstance(inputs, str):
            payload: dict[str, Any] = {"content": {"parts": [{"text": inputs}]}, **extra}
            return UpstreamRequest(
                "POST", gemini_url(target, "embedContent"), _headers(target), orjson.dumps(payload)
            )
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            raise ProviderError("gemini embeddings need a string or a non-empty list of strings", "input")
        model = model_path(target.model)
        requests = [{"model": model, "content": {"parts": [{"text": text}]}, **extra} for text in inputs]
        payload = {"requests": requests}
        return UpstreamRequest(
            "POST", gemini_url(target, "batchEmbedContents"), _headers(target), orjson.dumps(payload)
        )

    def embeddings_response(
        self, target: UpstreamTarget, data: bytes, request_body: dict
    ) -> tuple[bytes, Usage]:
        doc = upstream_object(data, "gemini")
        vectors = doc["embeddings"] if "embeddings" in doc else [doc.get("embedding") or {}]
        encoding = request_body.get("encoding_format")
        try:
            items = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": _embedding_value(v.get("values") or [], encoding),
                }
                for i, v in enumerate(vectors)
            ]
        except SHAPE_ERRORS as exc:
            raise ProviderError(f"unexpected gemini embeddings shape ({type(exc).__name__})") from None
        meta = doc.get("usageMetadata")
        prompt = as_int(meta.get("promptTokenCount")) if isinstance(meta, dict) else 0
        usage = Usage(prompt_tokens=prompt)
        out = {
            "object": "list",
            "data": items,
            "model": target.model,
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        }
        return orjson.dumps(out), usage

    def error_message(self, status: int, data: bytes) -> str:
        doc = loads_or_none(data)
        if isinstance(doc, list) and doc:
            doc = doc[0]
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
        if body:
            out.setdefault("content-type", "application/json")
        if target.api_key:
            out["x-goog-api-key"] = target.api_key
        bare = target.model.removeprefix("models/")
        path = _MODEL_IN_PATH.sub(lambda m: m.group(1) + bare + ":", path, count=1)
        query = "&".join(p for p in query.split("&") if p and not p.startswith("key="))
        url = native_url(target.api_base, path, query)
        return UpstreamRequest(
            method or ("POST" if body else "GET"), url, out, _rewrite_body_models(body, bare)
        )

    def native_usage(self, data: bytes) -> Usage:
        doc = loads_or_none(data)
        if isinstance(doc, list):  # a non-SSE streamGenerateContent answer is a JSON array
            doc = doc[-1] if doc else None
        return usage_from_gemini(doc.get("usageMetadata") if isinstance(doc, dict) else None)

    def native_stream_usage(self) -> GeminiNativeUsageTap:
        return GeminiNativeUsageTap()


_MODEL_IN_PATH = re.compile(r"((?:^|/)models/)[^/:]+:")


def _rewrite_body_models(body: bytes, bare: str) -> bytes:
    """batchEmbedContents (and a few others) repeat `models/<name>` inside the body: keep them in step."""
    if not body or b'"model"' not in body:
        return body
    doc = loads_or_none(body)
    if not isinstance(doc, dict):
        return body
    full = "models/" + bare
    if "model" in doc:
        doc["model"] = full
    for req in doc.get("requests") or ():
        if isinstance(req, dict) and "model" in req:
            req["model"] = full
    return orjson.dumps(doc)
