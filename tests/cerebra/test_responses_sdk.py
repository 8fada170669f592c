"""/v1/responses through the official openai SDK against Anthropic-, Gemini- and OpenAI-backed aliases
(fake upstreams on loopback): plain, streamed, function tool round trips over previous_response_id,
text.format, stored responses per key, errors, pricing and the request log."""

from __future__ import annotations

import json
import time

import openai
import pytest

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows

MODELS = {"anthropic": "claude-3-5-haiku-latest", "gemini": "gemini-2.0-flash"}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def translated(request, gateway, fake_anthropic, fake_gemini):  # type: ignore[no-untyped-def]
    """(server, fake) for an alias `m` on the provider of the test's parameter."""
    fake = {"anthropic": fake_anthropic, "gemini": fake_gemini}[request.param]
    server = gateway({"m": {"deployments": [deployment(fake, MODELS[request.param])]}})
    return server, fake


both = pytest.mark.parametrize("translated", ["anthropic", "gemini"], indirect=True)


async def log_rows(server, database, request_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    server.stop()  # flushes the request log
    return [r for r in await table_rows(database, "api_requests") if r["request_id"] == request_id]


@both
async def test_plain_create_is_translated_priced_and_logged(translated, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server, fake = translated
    fake.enqueue(Reply(text="Paris is the capital.", usage=(1000, 2000)))
    raw = client(server, cerebra_key).responses.with_raw_response.create(
        model="m",
        instructions="Answer briefly.",
        input="What is the capital of France?",
        max_output_tokens=50,
        temperature=0.2,
        metadata={"ticket": "42"},
    )
    response = raw.parse()
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "m"
    assert response.output_text == "Paris is the capital."
    assert response.output[0].type == "message" and response.output[0].content[0].type == "output_text"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        1000,
        2000,
        3000,
    )
    assert response.metadata == {"ticket": "42"}
    sent = fake.last.json
    if fake.provider == "anthropic":
        assert sent["system"] == "Answer briefly." and sent["max_tokens"] == 50 and sent["temperature"] == 0.2
        assert sent["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    else:
        assert sent["systemInstruction"]["parts"][0]["text"] == "Answer briefly."
        assert sent["generationConfig"]["maxOutputTokens"] == 50
        assert sent["contents"][0]["parts"][0]["text"] == "What is the capital of France?"
    rows = await log_rows(server, database, raw.headers["x-request-id"])
    assert len(rows) == 1
    row = rows[0]
    assert row["endpoint"] == "responses" and row["provider"] == fake.provider and row["status_code"] == 200
    assert (row["prompt_tokens"], row["completion_tokens"]) == (1000, 2000)
    # claude-3-5-haiku: 0.80 in / 4.00 out per 1M; gemini-2.0-flash: 0.10 / 0.40
    expected = {"anthropic": "0.008800", "gemini": "0.000900"}[fake.provider]
    assert f"{row['cost_usd']:.6f}" == expected


@both
async def test_stream_sends_the_documented_events_and_is_priced(translated, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server, fake = translated
    fake.enqueue(Reply(text="one two three", usage=(30, 3)))
    with client(server, cerebra_key).responses.stream(model="m", input="count to three") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three" and len(deltas) == 3
    assert final.output_text == "one two three" and final.status == "completed"
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (30, 3)
    assert events[0].response.id == final.id

    fake.enqueue(Reply(text="again", usage=(8, 1)))
    raw = client(server, cerebra_key).responses.with_raw_response.create(model="m", input="x", stream=True)
    kinds = [event.type for event in raw.parse()]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    rows = await log_rows(server, database, raw.headers["x-request-id"])
    assert len(rows) == 1 and bool(rows[0]["stream"]) and rows[0]["status_code"] == 200
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (8, 1)
    assert rows[0]["cost_usd"] is not None and rows[0]["cost_usd"] > 0


@both
@pytest.mark.parametrize("stream", [False, True])
async def test_function_tool_round_trip_over_previous_response_id(translated, cerebra_key, stream) -> None:  # type: ignore[no-untyped-def]
    server, fake = translated
    sdk = client(server, cerebra_key)
    fake.enqueue(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    if stream:
        with sdk.responses.stream(model="m", input="Weather in Paris?", tools=[WEATHER_TOOL]) as events:
            seen = [e.type for e in events]
            first = events.get_final_response()
        assert "response.function_call_arguments.delta" in seen
        assert "response.function_call_arguments.done" in seen
    else:
        first = sdk.responses.create(model="m", input="Weather in Paris?", tools=[WEATHER_TOOL])
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    tools_sent = fake.last.json["tools"]
    if fake.provider == "anthropic":
        assert tools_sent[0]["name"] == "get_weather" and tools_sent[0]["input_schema"]["required"] == [
            "city"
        ]
    else:
        assert tools_sent[0]["functionDeclarations"][0]["name"] == "get_weather"

    fake.enqueue(Reply(text="It is sunny in Paris."))
    second = sdk.responses.create(
        model="m",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "sunny"}'}],
        tools=[WEATHER_TOOL],
    )
    assert second.output_text == "It is sunny in Paris." and second.previous_response_id == first.id
    sent = fake.last.json
    if fake.provider == "anthropic":
        roles = [m["role"] for m in sent["messages"]]
        assert roles == ["user", "assistant", "user"]
        use = sent["messages"][1]["content"][-1]
        result = sent["messages"][2]["content"][0]
        assert use["type"] == "tool_use" and use["input"] == {"city": "Paris"} and use["id"] == call.call_id
        assert result["type"] == "tool_result" and result["tool_use_id"] == call.call_id
        assert "sunny" in json.dumps(result["content"])
    else:
        roles = [c["role"] for c in sent["contents"]]
        assert roles == ["user", "model", "user"]
        assert sent["contents"][1]["parts"][-1]["functionCall"] == {
            "name": "get_weather",
            "args": {"city": "Paris"},
        }
        assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"


@both
async def test_text_format_json_schema(translated, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = translated
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fake.enqueue(Reply(text='{"city": "Paris"}'))
    response = client(server, cerebra_key).responses.create(
        model="m",
        input="Which city?",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    assert json.loads(response.output_text) == {"city": "Paris"}
    assert response.text is not None and response.text.format.type == "json_schema"
    sent = fake.last.json
    if fake.provider == "anthropic":
        assert '"required":["city"]' in sent["system"]  # the schema is the model's instruction
    else:
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
        assert sent["generationConfig"]["responseSchema"]["required"] == ["city"]


@both
async def test_input_items_with_images_and_reasoning_effort(translated, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = translated
    pixel = "data:image/png;base64,iVBORw0KGgo="
    client(server, cerebra_key).responses.create(
        model="m",
        reasoning={"effort": "low"},
        input=[
            {"role": "developer", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": pixel, "detail": "auto"},
                ],
            },
        ],
    )
    sent = fake.last.json
    if fake.provider == "anthropic":
        assert sent["system"] == "Be terse."
        kinds = [b["type"] for b in sent["messages"][0]["content"]]
        assert kinds == ["text", "image"]
        assert sent["messages"][0]["content"][1]["source"]["media_type"] == "image/png"
    else:
        parts = sent["contents"][0]["parts"]
        assert parts[0]["text"] == "What is this?" and parts[1]["inlineData"]["mimeType"] == "image/png"


async def test_incomplete_when_max_output_tokens_is_reached(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]}})
    fake_anthropic.enqueue(Reply(text="cut", finish="max_tokens"))
    response = client(server, cerebra_key).responses.create(
        model="m", input="long story", max_output_tokens=1
    )
    assert response.status == "incomplete"
    assert (
        response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    )
    fake_anthropic.enqueue(Reply(text="cut", finish="max_tokens"))
    events = list(client(server, cerebra_key).responses.create(model="m", input="x", stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


async def test_stored_responses_are_scoped_to_their_key(gateway, fake_anthropic, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]}})
    mine = (await keystore.create(unique("mine"), ["cerebra"])).plaintext
    other = (await keystore.create(unique("other"), ["cerebra"])).plaintext
    fake_anthropic.enqueue(Reply(text="kept"))
    created = client(server, mine).responses.create(model="m", input="remember me")
    got = client(server, mine).responses.retrieve(created.id)
    assert got.id == created.id and got.output_text == "kept" and got.status == "completed"
    fake_anthropic.enqueue(Reply(text="kept again"))
    second = client(server, mine).responses.create(
        model="m", input="and again", previous_response_id=created.id
    )
    items = list(client(server, mine).responses.input_items.list(second.id, order="asc", limit=2))
    assert [item.type for item in items] == ["message", "message", "message"]  # the page cursor followed
    assert [item.role for item in items] == ["user", "assistant", "user"]  # type: ignore[union-attr]
    assert items[0].content[0].text == "remember me" and items[2].content[0].text == "and again"  # type: ignore[union-attr]
    assert len({item.id for item in items}) == 3
    with pytest.raises(openai.NotFoundError):
        client(server, other).responses.input_items.list(second.id)
    with pytest.raises(openai.NotFoundError):
        client(server, other).responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client(server, other).responses.delete(created.id)
    with pytest.raises(openai.BadRequestError, match="not found"):
        client(server, other).responses.create(model="m", input="go on", previous_response_id=created.id)
    client(server, mine).responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client(server, mine).responses.retrieve(created.id)

    fake_anthropic.enqueue(Reply(text="not kept"))
    unstored = client(server, mine).responses.create(model="m", input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        client(server, mine).responses.retrieve(unstored.id)


async def test_stored_response_survives_a_restart(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    models = {"m": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]}}
    server = gateway(models)
    fake_anthropic.enqueue(Reply(text="first turn"))
    created = client(server, cerebra_key).responses.create(model="m", input="hello")
    server.stop()  # waits for the stored write
    again = gateway(models)
    assert client(again, cerebra_key).responses.retrieve(created.id).output_text == "first turn"
    fake_anthropic.enqueue(Reply(text="second turn"))
    client(again, cerebra_key).responses.create(model="m", input="and?", previous_response_id=created.id)
    messages = fake_anthropic.last.json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "first turn" in json.dumps(messages[1])


async def test_built_in_tools_need_an_openai_deployment(
    gateway, fake_anthropic, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "claude": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]},
            "gpt": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]},
        }
    )
    with pytest.raises(openai.BadRequestError, match="built-in tool 'web_search'") as caught:
        client(server, cerebra_key).responses.create(
            model="claude", input="news?", tools=[{"type": "web_search"}]
        )
    assert caught.value.body["param"] == "tools[0].type"
    assert fake_anthropic.count == 0
    response = client(server, cerebra_key).responses.create(
        model="gpt", input="news?", tools=[{"type": "web_search"}]
    )
    assert response.status == "completed"
    assert fake_openai.last.path == "/v1/responses" and fake_openai.last.json["tools"] == [
        {"type": "web_search"}
    ]


async def test_openai_alias_is_passed_through_natively(
    gateway, fake_openai, fake_anthropic, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "gpt": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]},
            "claude": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]},
        }
    )
    sdk = client(server, cerebra_key)
    fake_openai.enqueue(Reply(text="native answer", usage=(1000, 2000)))
    raw = sdk.responses.with_raw_response.create(
        model="gpt", input="hi", include=["reasoning.encrypted_content"], truncation="auto"
    )
    response = raw.parse()
    assert response.output_text == "native answer"
    sent = fake_openai.last
    assert sent.path == "/v1/responses" and sent.json["model"] == "gpt-4o-mini"
    assert sent.json["include"] == ["reasoning.encrypted_content"] and sent.json["truncation"] == "auto"
    # an OpenAI-made response is stored too: retrievable, and continued on another provider
    assert sdk.responses.retrieve(response.id).output_text == "native answer"
    fake_anthropic.enqueue(Reply(text="continued on claude"))
    second = sdk.responses.create(model="claude", input="and then?", previous_response_id=response.id)
    assert [m["role"] for m in fake_anthropic.last.json["messages"]] == ["user", "assistant", "user"]
    # ... and a claude-made one continued on OpenAI arrives as input items, not an id OpenAI never saw
    fake_openai.enqueue(Reply(text="back on openai"))
    sdk.responses.create(model="gpt", input="last", previous_response_id=second.id)
    forwarded = fake_openai.last.json
    assert "previous_response_id" not in forwarded
    assert [item.get("role") for item in forwarded["input"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert all("id" not in item for item in forwarded["input"])

    fake_openai.enqueue(Reply(text="streamed natively", usage=(10, 2)))
    with sdk.responses.stream(model="gpt", input="stream it") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "streamed natively" and final.output_text == "streamed natively"
    fake_openai.enqueue(Reply(text="one two three four", drop_after_events=5))
    broken = list(sdk.responses.create(model="gpt", input="x", stream=True))
    assert broken[-1].type == "error" and broken[-1].sequence_number == len(broken) - 1
    rows = await log_rows(server, database, raw.headers["x-request-id"])
    assert rows[0]["provider"] == "openai" and rows[0]["prompt_tokens"] == 1000
    assert f"{rows[0]['cost_usd']:.6f}" == "0.001350"  # gpt-4o-mini: 0.15 in / 0.60 out per 1M


async def test_stream_events_are_relayed_as_they_come(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]}})
    fake_anthropic.enqueue(Reply(stream_events=6, pace_s=0.25))
    arrivals: list[tuple[str, float]] = []
    start = time.monotonic()
    for event in client(server, cerebra_key).responses.create(model="m", input="slowly", stream=True):
        arrivals.append((event.type, time.monotonic() - start))
    first_delta = next(t for kind, t in arrivals if kind == "response.output_text.delta")
    completed = next(t for kind, t in arrivals if kind == "response.completed")
    # the upstream spends ~1.5 s between its first and last event: the first delta came long before
    assert completed - first_delta > 0.75


async def test_upstream_stream_error_becomes_failed(gateway, fake_anthropic, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]}})
    fake_anthropic.enqueue(Reply(text="one two three", stream_error="overloaded"))
    raw = client(server, cerebra_key).responses.with_raw_response.create(model="m", input="x", stream=True)
    events = list(raw.parse())
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed" and "overloaded" in events[-1].response.error.message
    rows = await log_rows(server, database, raw.headers["x-request-id"])
    assert rows[0]["status_code"] == 502


async def test_bad_requests_answer_in_openai_error_shape(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_anthropic, MODELS["anthropic"])]}})
    sdk = client(server, cerebra_key)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="m", input=[{"type": "function_call_output", "output": "x"}])
    assert caught.value.body["param"] == "input[0].call_id"
    with pytest.raises(openai.BadRequestError, match="text.format.type"):
        sdk.responses.create(model="m", input="x", text={"format": {"type": "yaml"}})  # type: ignore[typeddict-item]
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="no-such-alias", input="x")
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve("resp_unknown")
    assert fake_anthropic.count == 0
