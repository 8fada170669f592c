"""Cost of one request in Decimal USD from the usage the provider reported and the deployment's prices:
uncached input, cache reads, cache writes (5-minute and 1-hour rates) and output, each at its own rate."""

from __future__ import annotations

from decimal import Decimal

from cerebra.pricing.catalog import Prices
from oco.money import quantize_money

MILLION = Decimal(1_000_000)


def request_cost(
    prices: Prices | None,
    prompt_tokens: int,
    completion_tokens: int,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
    cache_creation_1h_tokens: int = 0,
) -> Decimal | None:
    """Price of the tokens, or None when the model has no known price (logged `unpriced`).

    `prompt_tokens` counts all input tokens; cache reads and cache writes are parts of it, and
    `cache_creation_1h_tokens` is the part of the writes that went to a 1-hour cache. A rate the
    provider does not publish falls back to the input rate."""
    if prices is None:
        return None
    inp = prices.input_per_mtok
    read = min(max(cache_read_tokens, 0), max(prompt_tokens, 0))
    written = min(max(cache_creation_tokens, 0), max(prompt_tokens - read, 0))
    written_1h = min(max(cache_creation_1h_tokens, 0), written)
    uncached = max(prompt_tokens - read - written, 0)
    total = (
        Decimal(uncached) * inp
        + Decimal(read) * _or(prices.cached_input_per_mtok, inp)
        + Decimal(written - written_1h) * _or(prices.cache_write_5m_per_mtok, inp)
        + Decimal(written_1h) * _or(prices.cache_write_1h_per_mtok, inp)
        + Decimal(max(completion_tokens, 0)) * prices.output_per_mtok
    ) / MILLION
    return quantize_money(total)


def _or(rate: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if rate is None else rate
