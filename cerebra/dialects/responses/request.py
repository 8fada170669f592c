"""A Responses API request translated to the canonical chat-completions body: input items (messages with
text and image parts, function calls and their outputs) to messages, function tools, tool_choice,
text.format to response_format, and the sampling fields. Fields chat cannot carry raise ProviderError
(the gateway's 400, naming the field); reasoning items sent back are dropped (chat has no place for them)."""

from __future__ import annotations

from typing import Any

from cerebra.providers import ProviderError

# Tools OpenAI runs itself: only an OpenAI deployment (native pass-through) can serve them.
BUILT_IN_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "image_generation",
        "mcp",
        "local_shell",
        "shell",
        "apply_patch",
        "custom",
    }
)
# Request fields that need OpenAI's own server-side machinery.
OPENAI_ONLY_FIELDS = ("background", "conversation", "prompt")
ROLES = {"user": "user", "system": "system", "developer": "developer", "assistant": "assistant"}


def validate(body: dict) -> None:
    """Checks every back end needs (the OpenAI pass-through included): model, input and the types of
    the fields cerebra itself reads. ProviderError on a bad field."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ProviderError("'model' is required and must be a string", "model")
    value = body.get("input")
    if value is not None and not isinstance(value, (str, list)):
        raise ProviderError("'input' must be a string or a list of items", "input")
    for name in ("store", "stream", "parallel_tool_calls"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise ProviderError(f"'{name}' must be a boolean", name)
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not 0 < len(previous) <= 64):
        raise ProviderError("'previous_response_id' must be a response id", "previous_response_id")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise ProviderError("'metadata' must map at most 16 string keys to strings", "metadata")


def input_items(body: dict) -> list[dict]:
    """This request's `input` as a list of items (a string is one user message)."""
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ProviderError("each input item must be an object", f"input[{i}]")
    return list(value)


def to_chat(body: dict, items: list[dict], stream: bool) -> dict:
    """The chat-completions body for `items` (the conversation: stored history, then this input)."""
    for name in OPENAI_ONLY_FIELDS:
        if body.get(name):
            raise ProviderError(f"'{name}' is served only when the alias routes to OpenAI", name)
    messages: list[dict] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ProviderError("'instructions' must be a string", "instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    messages.extend(_messages(items))
    if not messages:
        raise ProviderError("'input' must not be empty", "input")
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    if body.get("parallel_tool_calls") is not None:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ProviderError("'max_output_tokens' must be a positive integer", "max_output_tokens")
        chat["max_completion_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ProviderError(f"'{name}' must be a number", name)
            chat[name] = value
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise ProviderError("'reasoning' must be an object", "reasoning")
        effort = reasoning.get("effort")
        if effort is not None:
            if not isinstance(effort, str):
                raise ProviderError("'reasoning.effort' must be a string", "reasoning.effort")
            chat["reasoning_effort"] = effort
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str):
        chat["user"] = user
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # the usage of response.completed
    return chat


def _messages(items: list[dict]) -> list[dict]:
    messages: list[dict] = []
    for i, item in enumerate(items):
        param = f"input[{i}]"
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = ROLES.get(item.get("role"))  # type: ignore[arg-type]
            if role is None:
                raise ProviderError("role must be user, system, developer or assistant", f"{param}.role")
            content = _content(item.get("content"), f"{param}.content", assistant=role == "assistant")
            if role == "assistant" and _open_tool_calls(messages):
                messages.append({"role": "assistant", "content": content})
            else:
                messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments", "")
            if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, str):
                raise ProviderError("function_call needs call_id, name and arguments (strings)", param)
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            last = messages[-1] if messages else None
            if (
                last is not None
                and last["role"] == "assistant"
                and isinstance(last.get("content"), (str, type(None)))
            ):
                last.setdefault("tool_calls", []).append(call)  # the turn's text and its calls: one message
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str):
                raise ProviderError("function_call_output needs call_id", f"{param}.call_id")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": _output_text(output, param)})
        elif kind == "reasoning":
            continue  # chat completions carry no reasoning input; the rest of the turn is kept
        else:
            raise ProviderError(
                f"input item type {kind!r} is served only when the alias routes to OpenAI", f"{param}.type"
            )
    return messages


def _open_tool_calls(messages: list[dict]) -> bool:
    return bool(messages) and messages[-1]["role"] == "assistant" and bool(messages[-1].get("tool_calls"))


def _content(content: Any, param: str, *, assistant: bool) -> Any:
    """Message content: a string, or parts (input_text/output_text/refusal -> text, input_image ->
    image_url); an assistant's content is its text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ProviderError("content must be a string or a list of parts", param)
    parts: list[dict] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise ProviderError("a text part needs text", f"{where}.text")
            parts.append({"type": "text", "text": text})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal") or "")})
        elif kind == "input_image" and not assistant:
            url = part.get("image_url")
            if not isinstance(url, str):
                raise ProviderError(
                    "input_image needs image_url (file_id is OpenAI-only)", f"{where}.image_url"
                )
            image: dict[str, Any] = {"url": url}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise ProviderError(
                f"content part type {kind!r} is served only when the alias routes to OpenAI", f"{where}.type"
            )
    if assistant:
        return "".join(p["text"] for p in parts)
    return parts


def _output_text(output: Any, param: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for j, part in enumerate(output):
            if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text"):
                raise ProviderError("function_call_output parts must be text", f"{param}.output[{j}]")
            texts.append(str(part.get("text") or ""))
        return "".join(texts)
    raise ProviderError("function_call_output needs output (a string)", f"{param}.output")


def _tools(tools: Any) -> list[dict]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise ProviderError("'tools' must be a list", "tools")
    out: list[dict] = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in BUILT_IN_TOOLS or (isinstance(kind, str) and kind.startswith("web_search")):
            raise ProviderError(
                f"the built-in tool {kind!r} is served only when the alias routes to OpenAI; "
                "this alias's deployment is another provider (use function tools)",
                f"tools[{i}].type",
            )
        if kind != "function":
            raise ProviderError(f"unsupported tool type {kind!r}", f"tools[{i}].type")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ProviderError("a function tool needs a name", f"tools[{i}].name")
        function: dict[str, Any] = {"name": name}
        for field in ("description", "parameters", "strict"):
            if tool.get(field) is not None:
                function[field] = tool[field]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise ProviderError("tool_choice must be auto, none, required or a function", "tool_choice")


def _response_format(text: Any) -> dict | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise ProviderError("'text' must be an object", "text")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        if not isinstance(fmt.get("schema"), dict) or not isinstance(fmt.get("name"), str):
            raise ProviderError("json_schema format needs name and schema", "text.format")
        spec = {k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": spec}
    raise ProviderError("text.format.type must be text, json_object or json_schema", "text.format.type")
