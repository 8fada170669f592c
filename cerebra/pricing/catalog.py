"""The built-in model catalog: list prices per million tokens (USD, Decimal) and declared capabilities.
A route's deployment can override any of these; unknown models have no price (cost 0, flagged)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model costs and can do."""

    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cached_input_per_mtok: Decimal | None = None
    context_window: int = 128_000
    max_output_tokens: int = 4096
    tools: bool = True
    vision: bool = False
    json_mode: bool = True
    embeddings: bool = False


def _m(
    inp: str,
    out: str,
    ctx: int,
    max_out: int,
    *,
    cached: str | None = None,
    vision: bool = True,
    tools: bool = True,
    json_mode: bool = True,
) -> ModelInfo:
    return ModelInfo(
        Decimal(inp),
        Decimal(out),
        Decimal(cached) if cached else None,
        ctx,
        max_out,
        tools,
        vision,
        json_mode,
    )


def _e(inp: str, ctx: int = 8192) -> ModelInfo:
    return ModelInfo(Decimal(inp), Decimal("0"), None, ctx, 0, False, False, False, True)


# Public list prices (USD per 1M tokens) as published by each provider; override per deployment when yours differ.
CATALOG: dict[str, ModelInfo] = {
    "gpt-4o": _m("2.50", "10.00", 128_000, 16_384, cached="1.25"),
    "gpt-4o-mini": _m("0.15", "0.60", 128_000, 16_384, cached="0.075"),
    "gpt-4.1": _m("2.00", "8.00", 1_047_576, 32_768, cached="0.50"),
    "gpt-4.1-mini": _m("0.40", "1.60", 1_047_576, 32_768, cached="0.10"),
    "gpt-4.1-nano": _m("0.10", "0.40", 1_047_576, 32_768, cached="0.025"),
    "o3-mini": _m("1.10", "4.40", 200_000, 100_000, cached="0.55", vision=False),
    "gpt-3.5-turbo": _m("0.50", "1.50", 16_385, 4096, vision=False),
    "text-embedding-3-small": _e("0.02"),
    "text-embedding-3-large": _e("0.13"),
    "claude-3-5-haiku-latest": _m("0.80", "4.00", 200_000, 8192, cached="0.08", json_mode=True),
    "claude-3-5-sonnet-latest": _m("3.00", "15.00", 200_000, 8192, cached="0.30"),
    "claude-3-7-sonnet-latest": _m("3.00", "15.00", 200_000, 64_000, cached="0.30"),
    "claude-sonnet-4-0": _m("3.00", "15.00", 200_000, 64_000, cached="0.30"),
    "claude-opus-4-0": _m("15.00", "75.00", 200_000, 32_000, cached="1.50"),
    "claude-3-haiku-20240307": _m("0.25", "1.25", 200_000, 4096, cached="0.03"),
    "gemini-1.5-flash": _m("0.075", "0.30", 1_048_576, 8192, cached="0.01875"),
    "gemini-1.5-pro": _m("1.25", "5.00", 2_097_152, 8192, cached="0.3125"),
    "gemini-2.0-flash": _m("0.10", "0.40", 1_048_576, 8192, cached="0.025"),
    "gemini-2.0-flash-lite": _m("0.075", "0.30", 1_048_576, 8192),
    "gemini-2.5-flash": _m("0.30", "2.50", 1_048_576, 65_536, cached="0.075"),
    "gemini-2.5-pro": _m("1.25", "10.00", 1_048_576, 65_536, cached="0.31"),
    "text-embedding-004": _e("0.00", 2048),
    "gemini-embedding-001": _e("0.15", 2048),
}


def lookup(model: str) -> ModelInfo | None:
    """Catalog entry for a provider model name (exact, then without a date/version suffix)."""
    info = CATALOG.get(model)
    if info is not None:
        return info
    for name in sorted(CATALOG, key=len, reverse=True):
        if model.startswith(name):
            return CATALOG[name]
    return None


# The built-in mock provider: priced at 0 on purpose (a known price of zero, not "unpriced").
MOCK_MODEL_INFO = ModelInfo(Decimal("0"), Decimal("0"), Decimal("0"), 128_000, 16_384, True, True, True, True)
