"""Strategies order an alias's deployments for one request: priority, weighted, least-latency,
lowest-cost, and auto (cheapest deployment whose declared capabilities fit the request)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from cerebra.routing.table import Deployment


@dataclass(frozen=True, slots=True)
class RequestNeeds:
    """What a request needs from a model, estimated from its body."""

    tokens: int = 0
    tools: bool = False
    vision: bool = False
    json_mode: bool = False


def _content_chars(content: object) -> tuple[int, bool]:
    if isinstance(content, str):
        return len(content), False
    chars, vision = 0, False
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "image_url":
                    vision = True
                    chars += 3000  # an image costs roughly a thousand tokens
                else:
                    text = part.get("text")
                    chars += len(text) if isinstance(text, str) else 0
    return chars, vision


def needs_of(body: dict) -> RequestNeeds:
    """Estimate the context a request needs (about 4 characters a token) and the features it uses."""
    chars, vision = 0, False
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            c, v = _content_chars(message.get("content"))
            chars += c
            vision = vision or v
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    response_format = body.get("response_format")
    json_mode = isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )
    return RequestNeeds(
        tokens=chars // 4 + (max_tokens if isinstance(max_tokens, int) else 0),
        tools=bool(body.get("tools")),
        vision=vision,
        json_mode=json_mode,
    )


def fits(deployment: Deployment, needs: RequestNeeds) -> bool:
    """Whether a deployment's declared capabilities cover the request."""
    return (
        deployment.context_window >= needs.tokens
        and (not needs.tools or deployment.supports_tools)
        and (not needs.vision or deployment.supports_vision)
        and (not needs.json_mode or deployment.supports_json)
    )


def order(
    strategy: str,
    deployments: Sequence[Deployment],
    *,
    body: dict,
    latency_ms: dict[str, float],
    rng: random.Random | None = None,
) -> list[Deployment]:
    """The deployments in the order they should be tried."""
    if strategy == "priority":
        return sorted(deployments, key=lambda d: d.priority)  # stable: file order breaks ties
    if strategy == "weighted":
        choices = (rng or random).choices
        remaining = list(deployments)
        ordered: list[Deployment] = []
        while remaining:
            pick = choices(remaining, weights=[d.weight for d in remaining])[0]
            ordered.append(pick)
            remaining.remove(pick)
        return ordered
    if strategy == "least-latency":
        # unmeasured deployments first, so each gets measured
        return sorted(deployments, key=lambda d: latency_ms.get(d.id, -1.0))
    if strategy == "lowest-cost":
        return sorted(deployments, key=lambda d: (d.blended_price(), d.priority))
    if strategy == "auto":
        needs = needs_of(body)
        fitting = [d for d in deployments if fits(d, needs)]
        return sorted(fitting, key=lambda d: (d.blended_price(), d.priority))
    raise ValueError(f"unknown strategy {strategy!r}")
