"""Cheaper-model recommendations from real usage: a premium model answering short prompts with short answers
could be served by the smaller model of its family; the saving is those calls' logged cost minus what the
same token counts (uncached input, cache reads, cache writes, output) cost at the smaller model's prices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cerebra.pricing.catalog import HISTORY, lookup
from cerebra.pricing.cost import request_cost
from oco.money import quantize_money

#: catalog model -> the smaller model of the same provider and family it is compared with
CHEAPER_MODEL: dict[str, str] = {
    "gpt-5": "gpt-5-mini",
    "gpt-5-mini": "gpt-5-nano",
    "gpt-4o": "gpt-4o-mini",
    "gpt-4.1": "gpt-4.1-mini",
    "gpt-4.1-mini": "gpt-4.1-nano",
    "o3": "o4-mini",
    "claude-opus-4-5": "claude-sonnet-4-5",
    "claude-opus-4-1": "claude-sonnet-4-5",
    "claude-opus-4-0": "claude-sonnet-4-0",
    "claude-sonnet-4-5": "claude-haiku-4-5",
    "claude-sonnet-4-0": "claude-haiku-4-5",
    "claude-3-7-sonnet-latest": "claude-3-5-haiku-latest",
    "claude-3-5-sonnet-latest": "claude-3-5-haiku-latest",
    "gemini-2.5-pro": "gemini-2.5-flash",
    "gemini-2.5-flash": "gemini-2.5-flash-lite",
    "gemini-1.5-pro": "gemini-1.5-flash",
}
DEFAULT_MAX_PROMPT_TOKENS = 1000
DEFAULT_MAX_COMPLETION_TOKENS = 300


@dataclass(frozen=True)
class Recommendation:
    model: str
    provider: str | None
    suggested_model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    current_cost: Decimal
    suggested_cost: Decimal
    saving: Decimal
    reason: str


def catalog_name(model: str) -> str | None:
    """The catalog name a provider model name is priced as (exact, else the longest name it starts with)."""
    if model in HISTORY:
        return model
    for name in sorted(HISTORY, key=len, reverse=True):
        if model.startswith(name):
            return name
    return None


def recommend(groups: Iterable[dict[str, Any]], *, on: dt.date) -> list[Recommendation]:
    """One recommendation per model whose short calls would have cost less on its cheaper model, biggest
    saving first. `groups` are the per-model sums of repository.short_call_statement."""
    out = []
    for group in groups:
        name = catalog_name(str(group["model"]))
        target = CHEAPER_MODEL.get(name or "")
        info = lookup(target, on) if target else None
        if target is None or info is None or info.prices is None:
            continue
        current = quantize_money(Decimal(group["cost_usd"] or 0))
        suggested = request_cost(
            info.prices,
            int(group["prompt_tokens"] or 0),
            int(group["completion_tokens"] or 0),
            int(group["cache_read_tokens"] or 0),
            int(group["cache_creation_tokens"] or 0),
        )
        assert suggested is not None
        saving = current - suggested
        if saving <= 0:
            continue
        requests = int(group["requests"])
        out.append(
            Recommendation(
                model=str(group["model"]),
                provider=group["provider"],
                suggested_model=target,
                requests=requests,
                prompt_tokens=int(group["prompt_tokens"] or 0),
                completion_tokens=int(group["completion_tokens"] or 0),
                current_cost=current,
                suggested_cost=suggested,
                saving=saving,
                reason=(
                    f"{requests} calls to {group['model']} had short prompts and short answers; "
                    f"the same tokens at {target}'s list prices cost {suggested} USD instead of {current} USD"
                ),
            )
        )
    out.sort(key=lambda r: r.saving, reverse=True)
    return out
