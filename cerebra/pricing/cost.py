"""Cost of one request in Decimal USD from its usage and the deployment's prices."""

from __future__ import annotations

from decimal import Decimal

from oco.money import quantize_money

MILLION = Decimal(1_000_000)


def request_cost(
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    input_per_mtok: Decimal | None,
    output_per_mtok: Decimal | None,
    cached_input_per_mtok: Decimal | None = None,
) -> Decimal | None:
    """Price of the tokens, or None when the model has no known price. Cached prompt tokens are billed at
    the cached rate when one is known."""
    if input_per_mtok is None or output_per_mtok is None:
        return None
    cached = min(max(cached_tokens, 0), prompt_tokens)
    cached_rate = cached_input_per_mtok if cached_input_per_mtok is not None else input_per_mtok
    total = (
        Decimal(prompt_tokens - cached) * input_per_mtok
        + Decimal(cached) * cached_rate
        + Decimal(completion_tokens) * output_per_mtok
    ) / MILLION
    return quantize_money(total)
