"""Pricing: the shipped price table, cache reads and writes at their own rates (Anthropic's 5-minute
writes at 1.25x input, 1-hour writes at 2x), streamed calls priced from their reported usage, dated
prices, per-deployment overrides, and unpriced models logged as such, never as $0."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openai
import pytest

from cerebra.pricing.catalog import HISTORY, Prices, load_price_table, lookup
from cerebra.pricing.cost import request_cost
from cerebra.routing.table import RouteFile, RouteTable
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows

MILLION = Decimal(1_000_000)


def test_every_shipped_row_is_decimal_and_anthropic_cache_writes_follow_its_multipliers() -> None:
    assert {"gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"} <= set(HISTORY)
    for model, rows in HISTORY.items():
        for row in rows:
            assert row.prices is not None and isinstance(row.prices.input_per_mtok, Decimal), model
            # Anthropic publishes Claude 3 Haiku's write rates rounded ($0.30 and $0.50 for $0.25 input).
            if model.startswith("claude-") and model != "claude-3-haiku-20240307":
                assert row.prices.cache_write_5m_per_mtok == row.prices.input_per_mtok * Decimal("1.25"), (
                    model
                )
                assert row.prices.cache_write_1h_per_mtok == row.prices.input_per_mtok * 2, model


def test_cache_writes_are_billed_at_the_cache_write_rate_not_the_input_rate() -> None:
    sonnet = lookup("claude-sonnet-4-5")
    assert sonnet is not None and sonnet.prices is not None
    # 10,000 input tokens in all: 1,000 read from cache, 4,000 written (1,500 of them to the 1-hour
    # cache), 5,000 plain; 2,000 output tokens.
    cost = request_cost(sonnet.prices, 10_000, 2_000, 1_000, 4_000, 1_500)
    expected = (
        5_000 * Decimal("3.00") + 1_000 * Decimal("0.30") + 2_500 * Decimal("3.75") + 1_500 * Decimal("6.00")
    ) / MILLION + 2_000 * Decimal("15.00") / MILLION
    assert cost == expected.quantize(Decimal("0.000001"))
    plain_input_rate = (
        9_000 * Decimal("3.00") + 1_000 * Decimal("0.30") + 2_000 * Decimal("15.00")
    ) / MILLION
    assert cost != plain_input_rate.quantize(Decimal("0.000001"))


def test_rates_a_provider_does_not_publish_fall_back_to_the_input_rate() -> None:
    prices = Prices(Decimal("1"), Decimal("2"))
    assert request_cost(prices, 1_000_000, 0, 250_000, 250_000) == Decimal("1.000000")
    assert request_cost(None, 10, 10) is None


def test_a_dated_price_applies_from_its_day_on() -> None:
    table = load_price_table(
        """
- {model: m, effective_from: "2025-01-01", input: "1.00", output: "2.00", context_window: 1000, max_output_tokens: 10}
- {model: m, effective_from: "2026-06-01", input: "0.50", output: "1.00", context_window: 1000, max_output_tokens: 10}
"""
    )
    rows = table["m"]
    assert [r.effective_from for r in rows] == [dt.date(2025, 1, 1), dt.date(2026, 6, 1)]
    spec = RouteFile.model_validate(
        {"models": {"a": {"deployments": [{"provider": "openai", "model": "x"}]}}}
    )
    deployment_ = RouteTable(spec, env={}).routes["a"].deployments[0]
    deployment_ = type(deployment_)(**{**_fields(deployment_), "price_history": rows})
    assert deployment_.prices_on(dt.date(2026, 5, 31)) == rows[0].prices
    assert deployment_.prices_on(dt.date(2026, 6, 1)) == rows[1].prices


def _fields(obj):  # type: ignore[no-untyped-def]
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


@pytest.mark.parametrize("bad", ["input: 1.5", 'input: "-1"', 'colour: "red"'])
def test_a_malformed_price_row_is_refused(bad: str) -> None:
    row = '{model: m, effective_from: "2025-01-01", output: "2", context_window: 1, max_output_tokens: 1, '
    with pytest.raises(ValueError):
        load_price_table(f"- {row}{bad}}}" if "input" in bad else f'- {row}input: "1", {bad}}}')


def test_deployment_overrides_replace_catalog_rates_and_price_an_unknown_model() -> None:
    spec = RouteFile.model_validate(
        {
            "models": {
                "a": {
                    "deployments": [
                        {"provider": "anthropic", "model": "claude-sonnet-4-5", "cache_write_price": "9"}
                    ]
                },
                "b": {
                    "deployments": [
                        {"provider": "openai", "model": "in-house", "input_price": "1", "output_price": "2"}
                    ]
                },
                "c": {"deployments": [{"provider": "openai", "model": "in-house", "input_price": "1"}]},
            }
        }
    )
    table = RouteTable(spec, env={})
    a = table.routes["a"].deployments[0].prices
    assert a is not None and a.cache_write_5m_per_mtok == Decimal("9") and a.input_per_mtok == Decimal("3.00")
    b = table.routes["b"].deployments[0].prices
    assert b is not None and (b.input_per_mtok, b.output_per_mtok) == (Decimal("1"), Decimal("2"))
    assert table.routes["c"].deployments[0].prices is None  # half a price is no price


def _client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


async def test_streamed_and_plain_anthropic_calls_log_cache_writes_at_their_rates(
    gateway, fake_anthropic, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"claude": {"deployments": [deployment(fake_anthropic, "claude-sonnet-4-5")]}})
    client = _client(server, cerebra_key)
    reply = Reply(
        text="ok", usage=(5_000, 2_000), cache_read=1_000, cache_creation=4_000, cache_creation_1h=1_500
    )
    fake_anthropic.enqueue(reply)
    plain = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "hi"}]
    )
    fake_anthropic.enqueue(reply)
    with client.chat.completions.with_streaming_response.create(
        model="claude", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as streamed:
        assert b"".join(streamed.iter_bytes())
        streamed_id = streamed.headers["x-request-id"]
    server.stop()  # flushes the request log
    rows = {r["request_id"]: r for r in await table_rows(database, "api_requests")}
    expected = (
        (
            5_000 * Decimal("3.00")
            + 1_000 * Decimal("0.30")
            + 2_500 * Decimal("3.75")
            + 1_500 * Decimal("6.00")
        )
        / MILLION
        + 2_000 * Decimal("15.00") / MILLION
    ).quantize(Decimal("0.000001"))
    for request_id in (plain.headers["x-request-id"], streamed_id):
        row = rows[request_id]
        assert row["cache_creation_tokens"] == 4_000 and row["cache_read_tokens"] == 1_000
        assert Decimal(str(row["cost_usd"])) == expected
        assert not row["unpriced"]


async def test_a_model_without_a_price_is_logged_unpriced_not_free(
    gateway, fake_openai, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("oco_cerebra_unpriced_requests_total", {"provider": "openai"}) or 0
    server = gateway({"house": {"deployments": [deployment(fake_openai, "in-house-model")]}})
    fake_openai.enqueue(Reply(text="ok", usage=(100, 10)))
    raw = _client(server, cerebra_key).chat.completions.with_raw_response.create(
        model="house", messages=[{"role": "user", "content": "hi"}]
    )
    server.stop()
    row = next(
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == raw.headers["x-request-id"]
    )
    assert row["unpriced"] and row["cost_usd"] is None
    after = REGISTRY.get_sample_value("oco_cerebra_unpriced_requests_total", {"provider": "openai"})
    assert after == before + 1
