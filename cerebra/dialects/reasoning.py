"""Reasoning across dialects and providers: one table maps chat `reasoning_effort`, Responses
`reasoning.effort`, Anthropic `thinking` (budget_tokens, adaptive, disabled) / `output_config.effort`
and Gemini `thinkingConfig` (thinkingBudget, or thinkingLevel on Gemini 3) onto each other.

| effort  | Anthropic budget_tokens | Gemini thinkingBudget | Gemini 3 thinkingLevel |
|---------|-------------------------|-----------------------|------------------------|
| none    | thinking off            | 0                     | low                    |
| minimal | 1024                    | 1024                  | low                    |
| low     | 2048                    | 2048                  | low                    |
| medium  | 8192                    | 8192                  | high                   |
| high    | 24576                   | 24576                 | high                   |
| xhigh   | 32768                   | 32768                 | high                   |

A budget given in tokens (Anthropic's budget_tokens) is kept exactly for Anthropic and Gemini, and
becomes an effort for OpenAI: under 4096 low, under 16384 medium, else high.
The canonical (chat) request carries `reasoning_effort`, plus `thinking` when a budget was explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cerebra.providers.base import ProviderError

EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}
EFFORTS = frozenset({"none", *EFFORT_BUDGETS})
ANTHROPIC_MIN_BUDGET = 1024
_ANTHROPIC_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}


class ReasoningError(ProviderError):
    """A reasoning parameter that is not valid (the gateway answers 400); `param` names it."""


@dataclass(frozen=True, slots=True)
class Reasoning:
    """What the caller asked for: an effort level and/or an explicit token budget."""

    effort: str | None = None
    budget: int | None = None

    @property
    def enabled(self) -> bool:
        return self.budget is not None or (self.effort is not None and self.effort != "none")

    def budget_tokens(self) -> int:
        if self.budget is not None:
            return self.budget
        return EFFORT_BUDGETS.get(self.effort or "medium", EFFORT_BUDGETS["medium"])

    def openai_effort(self) -> str:
        if self.effort is not None:
            return self.effort
        budget = self.budget_tokens()
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


# ------------------------------------------------------------------------------------------ readers


def from_chat(body: dict) -> Reasoning | None:
    """A chat (canonical) request's reasoning: `thinking` (explicit budget) wins over `reasoning_effort`."""
    thinking = body.get("thinking")
    if thinking is not None:
        return from_anthropic_thinking(thinking, body.get("reasoning_effort"))
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in EFFORTS:
        raise ReasoningError(f"reasoning_effort must be one of {sorted(EFFORTS)}", "reasoning_effort")
    return Reasoning(effort=effort)


def from_responses(body: dict) -> Reasoning | None:
    """The Responses API's `reasoning.effort`."""
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict) or reasoning.get("effort") is None:
        return None
    effort = reasoning["effort"]
    if effort not in EFFORTS:
        raise ReasoningError(f"reasoning.effort must be one of {sorted(EFFORTS)}", "reasoning.effort")
    return Reasoning(effort=effort)


def from_anthropic(body: dict) -> Reasoning | None:
    """Anthropic's `thinking` and `output_config.effort`."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort is not None and effort not in _ANTHROPIC_EFFORTS:
        raise ReasoningError("output_config.effort must be low, medium, high, xhigh or max", "output_config")
    mapped = _ANTHROPIC_EFFORTS.get(effort) if effort else None
    thinking = body.get("thinking")
    if thinking is None:
        return Reasoning(effort=mapped) if mapped else None
    return from_anthropic_thinking(thinking, mapped)


def from_anthropic_thinking(thinking: Any, effort: Any = None) -> Reasoning | None:
    if not isinstance(thinking, dict):
        raise ReasoningError("thinking must be an object", "thinking")
    kind = thinking.get("type")
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return Reasoning(effort=effort if isinstance(effort, str) and effort in EFFORTS else "medium")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < ANTHROPIC_MIN_BUDGET:
            raise ReasoningError(
                "thinking.budget_tokens must be an integer >= 1024", "thinking.budget_tokens"
            )
        return Reasoning(
            effort=effort if isinstance(effort, str) and effort in EFFORTS else None, budget=budget
        )
    raise ReasoningError("thinking.type must be enabled, adaptive or disabled", "thinking.type")


# ------------------------------------------------------------------------------------------ writers


def chat_fields(reasoning: Reasoning | None) -> dict[str, Any]:
    """The canonical request's fields for `reasoning` (nothing when off)."""
    if reasoning is None or not reasoning.enabled:
        return {}
    out: dict[str, Any] = {"reasoning_effort": reasoning.openai_effort()}
    if reasoning.budget is not None:
        out["thinking"] = {"type": "enabled", "budget_tokens": reasoning.budget}
    return out


def anthropic_thinking(reasoning: Reasoning | None, max_tokens: int) -> dict[str, Any] | None:
    """Anthropic's `thinking` for a call of `max_tokens` (which includes the thinking): the budget is cut
    to fit below max_tokens, and thinking is left off when that leaves less than Anthropic's minimum."""
    if reasoning is None or not reasoning.enabled:
        return None
    budget = min(reasoning.budget_tokens(), max_tokens - 1)
    if budget < ANTHROPIC_MIN_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def gemini_thinking_config(reasoning: Reasoning | None, model: str) -> dict[str, Any] | None:
    """Gemini's generationConfig.thinkingConfig (thought summaries included, so reasoning comes back)."""
    if reasoning is None:
        return None
    if model.removeprefix("models/").startswith("gemini-3"):
        effort = reasoning.openai_effort()
        level = "high" if effort in ("medium", "high", "xhigh") else "low"
        return {"thinkingLevel": level, "includeThoughts": reasoning.enabled}
    if not reasoning.enabled:
        return {"thinkingBudget": 0}
    return {"thinkingBudget": reasoning.budget_tokens(), "includeThoughts": True}


def openai_fields(body: dict) -> dict:
    """A chat body for an OpenAI-compatible upstream: an Anthropic-style `thinking` becomes
    `reasoning_effort` (OpenAI has no token budget), never sent as an unknown field."""
    if "thinking" not in body:
        return body
    out = {k: v for k, v in body.items() if k != "thinking"}
    if out.get("reasoning_effort") is None:
        reasoning = from_anthropic_thinking(body["thinking"])
        if reasoning is not None:
            out["reasoning_effort"] = reasoning.openai_effort()
    return out
