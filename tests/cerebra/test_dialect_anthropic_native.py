"""/v1/messages for Anthropic-backed aliases is a native pass-through (the caller's bytes reach Anthropic
but for the model name: cache_control, thinking signatures and betas survive); count_tokens; /v1/models
in Anthropic's shape; fallback from an Anthropic deployment to a translated one. Through the anthropic SDK."""

from __future__ import annotations

import anthropic
import httpx
import httpx2
import pytest

from tests.cerebra.conftest import ANTHROPIC_KEY, deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows

SIGNATURE = "EqQBCkYIBRgCKkB0aGlzIGlzIGEgc2lnbmVkIHRoaW5raW5nIGJsb2Nr+/="
HISTORY = [
    {"role": "user", "content": "6*7?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "six times seven", "signature": SIGNATURE},
            {"type": "text", "text": "42"},
        ],
    },
    {"role": "user", "content": [{"type": "text", "text": "sure?", "cache_control": {"type": "ephemeral"}}]},
]
SYSTEM = [
    {"type": "text", "text": "long stable prompt " * 20, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
]


class Capture:
    """The exact bytes the SDK sent (an httpx request hook)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.versions: list[str] = []

    def __call__(self, request: httpx2.Request) -> None:
        self.bodies.append(request.read())
        self.versions.append(request.headers["anthropic-version"])


def client(server, key: str, capture: Capture | None = None) -> anthropic.Anthropic:  # type: ignore[no-untyped-def]
    hooks = {"request": [capture]} if capture else {}
    return anthropic.Anthropic(
        base_url=server.url, api_key=key, max_retries=0, http_client=httpx2.Client(event_hooks=hooks)
    )


@pytest.fixture
def claude(gateway, fake_anthropic):  # type: ignore[no-untyped-def]
    return gateway({"claude": {"deployments": [deployment(fake_anthropic, "claude-sonnet-4-0")]}})


async def test_pass_through_is_byte_for_byte(claude, fake_anthropic, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    capture = Capture()
    fake_anthropic.enqueue(
        Reply(
            text="yes", reasoning="checking", signature="sig-from-upstream", usage=(1000, 100), cache_read=400
        )
    )
    raw = client(claude, cerebra_key, capture).messages.with_raw_response.create(
        model="claude",
        max_tokens=2048,
        system=SYSTEM,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HISTORY,  # type: ignore[arg-type]
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14,extended-cache-ttl-2025-04-11"},
    )
    sent = capture.bodies[-1]
    upstream = fake_anthropic.last
    assert upstream.path == "/v1/messages"
    assert upstream.body == sent.replace(b'"model":"claude"', b'"model":"claude-sonnet-4-0"')
    assert SIGNATURE.encode() in upstream.body and b'"ttl":"1h"' in upstream.body
    assert (
        upstream.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,extended-cache-ttl-2025-04-11"
    )
    assert upstream.headers["anthropic-version"] == capture.versions[-1]  # the caller's, unchanged
    assert upstream.headers["x-api-key"] == ANTHROPIC_KEY and cerebra_key not in str(upstream.headers)
    message = raw.parse()
    assert message.content[0].type == "thinking" and message.content[0].signature == "sig-from-upstream"
    assert message.usage.cache_read_input_tokens == 400
    assert raw.headers["x-oco-provider"] == "anthropic" and "x-oco-dropped" not in raw.headers
    claude.stop()
    row = next(
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == raw.headers["x-request-id"]
    )
    assert row["endpoint"] == "messages" and row["provider"] == "anthropic"
    assert row["prompt_tokens"] == 1400 and row["cache_read_tokens"] == 400
    # claude-sonnet-4-0: 3.00 in, 0.30 cached in, 15.00 out per 1M tokens
    assert str(row["cost_usd"]).rstrip("0") == "0.00462"


async def test_pass_through_stream(claude, fake_anthropic, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    capture = Capture()
    fake_anthropic.enqueue(Reply(text="streamed yes", reasoning="hmm ok", signature="sig-2", usage=(50, 8)))
    with client(claude, cerebra_key, capture).messages.stream(
        model="claude",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HISTORY,  # type: ignore[arg-type]
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert "signature_delta" in deltas and "thinking_delta" in deltas
    assert final.content[0].signature == "sig-2" and final.content[1].text == "streamed yes"
    assert final.usage.input_tokens == 50 and final.usage.output_tokens == 8
    assert fake_anthropic.last.body == capture.bodies[-1].replace(
        b'"model":"claude"', b'"model":"claude-sonnet-4-0"'
    )
    claude.stop()
    row = next(r for r in await table_rows(database, "api_requests") if r["request_id"] == request_id)
    assert bool(row["stream"]) and row["prompt_tokens"] == 50 and row["completion_tokens"] == 8
    assert row["cost_usd"] is not None and row["cost_usd"] > 0


async def test_pass_through_keeps_anthropic_only_features_and_errors(
    claude, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    sdk = client(claude, cerebra_key)
    sdk.messages.create(
        model="claude",
        max_tokens=100,
        messages=[{"role": "user", "content": "search"}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
    )
    assert fake_anthropic.last.json["tools"][0]["type"] == "web_search_20250305"
    fake_anthropic.enqueue(Reply(status=400, error_message="messages.0.content: bad block"))
    with pytest.raises(anthropic.BadRequestError, match="bad block") as caught:
        sdk.messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


async def test_count_tokens_is_anthropics_own(claude, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    raw = client(claude, cerebra_key).messages.with_raw_response.count_tokens(
        model="claude", messages=[{"role": "user", "content": "count me " * 50}]
    )
    assert fake_anthropic.last.path == "/v1/messages/count_tokens"
    assert raw.parse().input_tokens == len(fake_anthropic.last.body) // 4  # the fake's own count
    assert "x-oco-token-count" not in raw.headers


async def test_fallback_from_anthropic_to_a_translated_deployment(
    gateway, fake_anthropic, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "mixed": {
                "strategy": "priority",
                "deployments": [
                    deployment(fake_anthropic, "claude-sonnet-4-0"),
                    deployment(fake_openai, "gpt-4o-mini"),
                ],
            }
        }
    )
    fake_anthropic.enqueue(Reply(status=529), Reply(status=529))
    fake_openai.enqueue(Reply(text="from openai"))
    raw = client(server, cerebra_key).messages.with_raw_response.create(
        model="mixed",
        max_tokens=2048,
        messages=HISTORY,  # type: ignore[arg-type]
    )
    assert raw.parse().content[0].text == "from openai"
    assert raw.headers["x-oco-provider"] == "openai" and raw.headers["x-oco-attempts"] == "3"
    assert "thinking blocks" in raw.headers["x-oco-dropped"]
    assert "signature" not in fake_openai.last.body.decode()


async def test_models_in_anthropic_shape(gateway, fake_anthropic, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "claude": {"deployments": [deployment(fake_anthropic, "claude-sonnet-4-0")]},
            "gpt": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]},
        }
    )
    sdk = client(server, cerebra_key)
    models = list(sdk.models.list(limit=2))  # auto-pagination over after_id
    assert [m.id for m in models] == ["claude", "gpt", "auto"]
    assert all(m.type == "model" and m.display_name for m in models)
    page = sdk.models.list(limit=1)
    assert page.has_more is True and page.last_id == "claude"
    assert sdk.models.retrieve("gpt").id == "gpt"
    with pytest.raises(anthropic.NotFoundError):
        sdk.models.retrieve("nope")
    # without anthropic-version the OpenAI shape stays
    plain = httpx.get(server.url + "/v1/models", headers={"Authorization": f"Bearer {cerebra_key}"})
    assert plain.json()["object"] == "list"
