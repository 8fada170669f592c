"""Wildcard aliases (`anthropic/*`): validation, resolution and catalog pricing in the route table; calls
through the official openai SDK (chat and responses), /v1/models listing them as patterns, the built-in
table's wildcards and a missing provider key."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from cerebra.routing.table import RouteTable, RouteTableError
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows


def table(models: dict) -> RouteTable:
    return RouteTable.from_dict(
        {"models": models}, env={"ANTHROPIC_API_KEY": "sk-ant-x", "OPENAI_API_KEY": "sk-x"}
    )


def client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def test_a_wildcard_resolves_the_rest_of_the_name_and_prices_it_from_the_catalog() -> None:
    routes = table(
        {
            "anthropic/*": {"deployments": [{"provider": "anthropic", "model": "*"}]},
            "openai/ft:*": {
                "deployments": [{"provider": "openai", "model": "ft:*", "input_price": 9, "output_price": 9}]
            },
            "openai/*": {"deployments": [{"provider": "openai", "model": "*"}]},
        }
    )
    route = routes.route_for("anthropic/claude-sonnet-4-0-20250514")
    assert route is not None and route.alias == "anthropic/claude-sonnet-4-0-20250514"
    (dep,) = route.deployments
    assert dep.provider == "anthropic" and dep.model == "claude-sonnet-4-0-20250514"
    assert dep.input_price == Decimal("3.00") and dep.output_price == Decimal("15.00")  # catalog prefix match
    assert dep.target.api_key == "sk-ant-x" and dep.id.startswith("anthropic/*#0:anthropic/claude-sonnet-4-0")
    assert routes.route_for("anthropic/claude-sonnet-4-0-20250514") is route  # resolved once
    assert routes.route_for("openai/ft:gpt-4o:acme::abc").deployments[0].model == "ft:gpt-4o:acme::abc"  # type: ignore[union-attr]
    assert routes.route_for("openai/ft:gpt-4o:acme::abc").deployments[0].input_price == 9  # type: ignore[union-attr]
    unknown = routes.route_for("openai/some-future-model")
    assert (
        unknown is not None and unknown.deployments[0].input_price is None
    )  # unpriced, like any unknown model
    for name in ("anthropic/", "anthropic/../x", "anthropic/a b", "gemini/x", "anthropic"):
        assert routes.route_for(name) is None
    assert "anthropic/*" not in routes.routes and set(routes.wildcards) == {
        "anthropic/*",
        "openai/ft:*",
        "openai/*",
    }


@pytest.mark.parametrize(
    ("models", "where"),
    [
        ({"a/*/*": {"deployments": [{"provider": "openai", "model": "*"}]}}, "models.a/*/*"),
        (
            {"a/*": {"deployments": [{"provider": "openai", "model": "gpt-4o"}]}},
            r"models.a/\*.deployments.0.model",
        ),
        ({"a": {"deployments": [{"provider": "openai", "model": "gpt-*"}]}}, "models.a.deployments.0.model"),
        (
            {"a/*": {"fallbacks": ["nope"], "deployments": [{"provider": "openai", "model": "*"}]}},
            r"models.a/\*.fallbacks",
        ),
    ],
)
def test_invalid_wildcards_name_the_field(models: dict, where: str) -> None:
    with pytest.raises(RouteTableError, match=where):
        table(models)


async def test_wildcard_alias_routes_prices_and_lists(gateway, fake_anthropic, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "anthropic/*": {"deployments": [deployment(fake_anthropic, "*")]},
            "claude": {"deployments": [deployment(fake_anthropic, "claude-3-5-haiku-latest")]},
        }
    )
    sdk = client(server, cerebra_key)
    fake_anthropic.enqueue(Reply(text="via wildcard", usage=(1000, 2000)))
    raw = sdk.chat.completions.with_raw_response.create(
        model="anthropic/claude-3-5-haiku-latest", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "via wildcard"
    assert fake_anthropic.last.json["model"] == "claude-3-5-haiku-latest"
    assert raw.headers["x-oco-model"] == "claude-3-5-haiku-latest"

    fake_anthropic.enqueue(Reply(text="responses too"))
    response = sdk.responses.create(model="anthropic/claude-sonnet-4-0", input="hi")
    assert (
        response.output_text == "responses too" and fake_anthropic.last.json["model"] == "claude-sonnet-4-0"
    )

    listed = {m.id: m for m in sdk.models.list()}
    assert "anthropic/*" in listed and "claude" in listed
    assert listed["anthropic/*"].model_extra == {"pattern": True}
    assert sdk.models.retrieve("anthropic/claude-opus-4-0").id == "anthropic/claude-opus-4-0"
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(
            model="gemini/gemini-2.0-flash", messages=[{"role": "user", "content": "x"}]
        )

    server.stop()
    rows = [
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == raw.headers["x-request-id"]
    ]
    assert (
        rows[0]["alias"] == "anthropic/claude-3-5-haiku-latest"
        and rows[0]["model"] == "claude-3-5-haiku-latest"
    )
    assert f"{rows[0]['cost_usd']:.6f}" == "0.008800"  # catalog: 0.80 in / 4.00 out per 1M


async def test_wildcard_without_its_provider_key_fails_with_502_naming_the_variable(
    gateway, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "gemini/*": {
                "deployments": [{"provider": "gemini", "model": "*", "api_key_env": "UNSET_GEMINI_KEY_X"}]
            }
        }
    )
    with pytest.raises(openai.InternalServerError) as caught:
        client(server, cerebra_key).responses.create(model="gemini/gemini-2.0-flash", input="x")
    assert caught.value.status_code == 502 and "UNSET_GEMINI_KEY_X" in str(caught.value.body)


async def test_built_in_table_has_a_wildcard_per_provider_key_set(
    default_gateway, monkeypatch, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    ids = {m.id for m in client(server, cerebra_key).models.list()}
    assert not ids & {"openai/*", "anthropic/*", "gemini/*"}
    with pytest.raises(openai.NotFoundError):
        client(server, cerebra_key).responses.create(model="anthropic/claude-sonnet-4-0", input="x")
    server.stop()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-used-0123456789")
    server = default_gateway()
    ids = {m.id for m in client(server, cerebra_key).models.list()}
    assert "anthropic/*" in ids and "openai/*" not in ids
