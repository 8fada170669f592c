"""The Responses dialect's translation units: a Responses request to the canonical chat body, and chat
output (whole and streamed, reasoning text included) to Responses objects and events that the openai
SDK's own types parse."""

from __future__ import annotations

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from cerebra.dialects.responses.request import input_items, to_chat
from cerebra.dialects.responses.response import from_chat
from cerebra.dialects.responses.stream import ResponsesStream
from cerebra.providers import ProviderError, Usage

EVENT = TypeAdapter(ResponseStreamEvent)


def chat_of(body: dict, stream: bool = False) -> dict:
    return to_chat(body, input_items(body), stream)


def test_the_canonical_chat_body() -> None:
    chat = chat_of(
        {
            "model": "m",
            "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "calling"}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "two"}],
                },
            ],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "text": {"format": {"type": "json_object"}},
            "max_output_tokens": 99,
            "temperature": 0.5,
            "top_p": 0.9,
            "reasoning": {"effort": "high", "summary": "auto"},
            "user": "u-1",
            "metadata": {"k": "v"},
        },
        stream=True,
    )
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": "calling",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False and chat["response_format"] == {"type": "json_object"}
    assert (chat["max_completion_tokens"], chat["temperature"], chat["top_p"]) == (99, 0.5, 0.9)
    assert chat["reasoning_effort"] == "high" and chat["user"] == "u-1"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert "metadata" not in chat  # echoed on the response, not sent to providers that have no such field


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": "x", "tools": [{"type": "file_search"}]}, "tools[0].type"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        ({"model": "m", "input": "x", "background": True}, "background"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "x", "tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
        ({"model": "m", "input": []}, "input"),
    ],
)
def test_what_chat_cannot_carry_names_the_field(body: dict, param: str) -> None:
    with pytest.raises(ProviderError) as caught:
        chat_of(body)
    assert caught.value.param == param


def test_a_chat_completion_with_reasoning_and_tools_becomes_output_items() -> None:
    completion = {
        "created": 1700000000,
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "reasoning_content": "The user wants weather.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"completion_tokens_details": {"reasoning_tokens": 5}},
    }
    doc = from_chat("resp_1", {"model": "m", "input": "x"}, completion, Usage(10, 20, 4, 0))
    response = Response.model_validate(doc)  # the SDK's own model, validated
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    assert response.output[0].summary[0].text == "The user wants weather."  # type: ignore[union-attr]
    assert response.output_text == "Let me check."
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens == 5
    assert response.usage.input_tokens_details.cached_tokens == 4
    assert response.status == "completed" and response.created_at == 1700000000


class FakeChatStream:
    """A chat translator that replays chat.completion.chunk frames (what every provider adapter emits)."""

    def __init__(self, chunks: list[dict]) -> None:
        self.frames = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
        self.usage = Usage(7, 9)
        self.error = None
        self.finish_reason = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [self.frames.pop(0)] if self.frames else []

    def close(self) -> list[bytes]:
        frames, self.frames = self.frames, []
        return [*frames, b"data: [DONE]\n\n"]


def delta(d: dict, finish: str | None = None) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
    }


def test_a_streamed_reasoning_text_and_tool_call_become_sdk_parsable_events() -> None:
    chunks = [
        delta({"role": "assistant", "reasoning_content": "think"}),
        delta({"reasoning_content": "ing"}),
        delta({"content": "Hi"}),
        delta({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "w", "arguments": '{"a"'}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
        delta({}, "tool_calls"),
    ]
    stream = ResponsesStream(FakeChatStream(chunks), "resp_1", {"model": "m"})  # type: ignore[arg-type]
    raw = b"".join(stream.feed(b"x") for _ in chunks) + stream.close()
    events = []
    for block in raw.decode().strip().split("\n\n"):
        kind, data = block.split("\n", 1)
        event = EVENT.validate_python(orjson.loads(data.removeprefix("data: ")))
        assert kind == f"event: {event.type}"
        events.append(event)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1].response  # type: ignore[union-attr]
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.output[0].summary[0].text == "thinking"
    assert final.output[2].arguments == '{"a":1}' and final.output[2].call_id == "call_1"
    assert final.usage.input_tokens == 7 and final.usage.output_tokens == 9
