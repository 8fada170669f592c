"""Pieces of the Anthropic dialect on their own: the model splice of the pass-through, the request
translation's edge cases, and the stream writer fed frame by frame."""

from __future__ import annotations

import orjson
import pytest

from cerebra.dialects.anthropic.passthrough import splice_model
from cerebra.dialects.anthropic.request import for_provider, to_chat
from cerebra.dialects.anthropic.stream import AnthropicEventWriter
from cerebra.providers import Usage
from cerebra.providers.chunks import DONE_FRAME, ChunkWriter
from oco.errors import ApiError


def test_splice_keeps_every_other_byte() -> None:
    body = b'{"max_tokens": 10,  "model" : "claude", "messages":[{"role":"user","content":"\\u00e9"}]}'
    assert splice_model(body, "claude", "claude-sonnet-4-0") == body.replace(
        b'"model" : "claude"', b'"model":"claude-sonnet-4-0"'
    )
    assert splice_model(body, "claude", "claude") is body
    # the alias also appears nested (a tool input): re-encoded, and only the top-level model changes
    nested = b'{"model":"c","messages":[{"role":"user","content":[{"type":"tool_result","model":"c"}]}]}'
    out = orjson.loads(splice_model(nested, "c", "real"))
    assert out["model"] == "real" and out["messages"][0]["content"][0]["model"] == "c"


def test_tool_results_come_first_and_order_is_kept() -> None:
    translation = to_chat(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "ok"}],
                        },
                        {"type": "text", "text": "next"},
                    ],
                },
            ],
            "top_k": 3,
        },
        stream=False,
    )
    messages = translation.body["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "user"]
    assert messages[0]["content"] is None and messages[0]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert messages[1]["content"] == "ok" and messages[2]["content"] == "next"
    body, dropped = for_provider(translation, "openai")
    assert "top_k" not in body and dropped == ["top_k"]
    assert for_provider(translation, "gemini")[0]["top_k"] == 3


@pytest.mark.parametrize(
    ("doc", "param"),
    [
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}]}, None),
        (
            {"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "enabled"}},
            "thinking.budget_tokens",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "maybe"}}, "tool_choice"),
    ],
)
def test_bad_requests_are_400_naming_the_field(doc: dict, param: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        to_chat({"model": "m", "max_tokens": 5, **doc}, stream=False)
    assert caught.value.status == 400
    if param:
        assert caught.value.param == param


def _events(data: bytes) -> list[tuple[str, dict]]:
    out = []
    for frame in data.split(b"\n\n"):
        if frame:
            head, _, payload = frame.partition(b"\ndata: ")
            out.append((head.removeprefix(b"event: ").decode(), orjson.loads(payload)))
    return out


def test_stream_writer_event_sequence() -> None:
    chunks = ChunkWriter("chatcmpl-1", "gpt")
    usage = Usage(prompt_tokens=30, completion_tokens=5, cache_read_tokens=10)
    writer = AnthropicEventWriter("gpt", None, lambda: usage)
    frames = [
        chunks.delta({"role": "assistant", "content": ""}),
        chunks.delta({"reasoning_content": "hmm"}),
        chunks.content("Hi"),
        chunks.delta({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}),
        chunks.delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunks.delta({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunks.delta({}, finish_reason="tool_calls"),
    ]
    data = b"".join(writer.feed([frame]) for frame in frames) + writer.close([DONE_FRAME])
    events = _events(data)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2][1]["content_block"]["type"] == "thinking"
    assert events[8][1]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    assert [e[1]["index"] for e in events if e[0] == "content_block_start"] == [0, 1, 2]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == {
        "input_tokens": 20,
        "output_tokens": 5,
        "cache_read_input_tokens": 10,
        "cache_creation_input_tokens": 0,
    }
