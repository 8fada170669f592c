"""Admission by caller rate limits: before a call, one atomic GCRA run over every limit the call falls
under (its key, its team, each with or without the alias), counting the request and its estimated
prompt tokens; after it, the real token count corrects the estimate. Sets OpenAI's x-ratelimit-*
headers and refuses with 429 `rate_limit_exceeded` and Retry-After."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter

from cerebra.control.rules import CallScopes, RateRule, RuleBook
from cerebra.ratelimit.gcra import GCRA, limit_args, remaining
from oco.errors import ApiError
from oco.kv import KV

log = logging.getLogger("cerebra.ratelimit")

REFUSALS = Counter(
    "oco_cerebra_rate_limited_total", "Calls refused by a caller rate limit", ["scope", "kind"]
)
BACKEND_ERRORS = Counter(
    "oco_cerebra_ratelimit_backend_errors_total",
    "Rate-limit checks that could not reach the kv (OCO_RATELIMIT_FAIL_MODE decided)",
    ["mode"],
)


@dataclass(slots=True)
class Admission:
    """What admit() charged, so settle() can correct the token estimate, and the headers to send."""

    token_keys: list[tuple[str, int]] = field(default_factory=list)  # (kv key, tpm)
    estimate: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class PlannedAdmission:
    """A GCRA run to make before a call: its keys and arguments, and how to read its result."""

    admission: Admission
    keys: list[str]
    args: list[str | int]
    kinds: list[tuple[RateRule, str, int]]


def duration(us: int) -> str:
    """OpenAI's reset format: 20ms, 1.5s, 6m0s."""
    if us < 1_000_000:
        return f"{math.ceil(us / 1000)}ms"
    seconds = us / 1_000_000
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{text}s" if minutes else f"{text}s"


class RateLimiter:
    """Caller limits on the kv (Redis: shared by all replicas)."""

    def __init__(self, kv: KV, rules: RuleBook, *, fail_closed: bool = False) -> None:
        self.kv = kv
        self.rules = rules
        self.fail_closed = fail_closed

    async def admit(self, scopes: CallScopes, alias: str | None, estimated_tokens: int) -> Admission | None:
        planned = self.plan(scopes, alias, lambda: estimated_tokens)
        if planned is None:
            return None
        try:
            result = await self.kv.run(GCRA, planned.keys, planned.args)
        except Exception as exc:  # noqa: BLE001 - kv down: the fail mode decides
            self.unreachable(exc)
            return None
        return self.decide(planned, result)

    def plan(
        self, scopes: CallScopes, alias: str | None, estimated_tokens: Callable[[], int]
    ) -> PlannedAdmission | None:
        """The GCRA keys and arguments of a call's limits (None: no limit applies; then the token
        estimate is not computed)."""
        rules = self.rules.current.rate_rules(scopes, alias)
        if not rules:
            return None
        keys: list[str] = []
        args: list[str | int] = ["0"]
        kinds: list[tuple[RateRule, str, int]] = []  # (rule, requests|tokens, limit)
        admission = Admission(estimate=max(estimated_tokens(), 0))
        for rule in rules:
            if rule.rpm:
                keys.append(f"rl:{rule.id}:r")
                args += limit_args(rule.rpm, 1)
                kinds.append((rule, "requests", rule.rpm))
            if rule.tpm:
                keys.append(f"rl:{rule.id}:t")
                args += limit_args(rule.tpm, min(admission.estimate, rule.tpm))
                kinds.append((rule, "tokens", rule.tpm))
                admission.token_keys.append((keys[-1], rule.tpm))
        return PlannedAdmission(admission, keys, args, kinds)

    def unreachable(self, exc: Exception) -> None:
        """The kv could not be reached: admit (fail open) or 503 (OCO_RATELIMIT_FAIL_MODE=closed)."""
        mode = "closed" if self.fail_closed else "open"
        BACKEND_ERRORS.labels(mode).inc()
        log.warning("rate limiter unreachable (%s): failing %s", type(exc).__name__, mode)
        if self.fail_closed:
            raise ApiError(
                503, "rate limiting is temporarily unavailable", code="rate_limiter_unavailable"
            ) from None

    def decide(self, planned: PlannedAdmission, result: list[int]) -> Admission:
        """The admission of a GCRA run's result, or 429 `rate_limit_exceeded`."""
        admission, kinds = planned.admission, planned.kinds
        allowed, retry_us, backlogs = result[0], result[1], result[2:]
        admission.headers = _headers(kinds, backlogs)
        if not allowed:
            blocking = [
                (rule, kind)
                for (rule, kind, limit), backlog in zip(kinds, backlogs, strict=True)
                if remaining(limit, backlog)
                < (1 if kind == "requests" else min(admission.estimate, limit) or 1)
            ]
            rule, kind = blocking[0] if blocking else (kinds[0][0], kinds[0][1])
            REFUSALS.labels(rule.scope, kind).inc()
            what = "requests" if kind == "requests" else "tokens"
            raise ApiError(
                429,
                f"rate limit of the {rule.scope} reached ({what} per minute"
                + (f" for {rule.model}" if rule.model else "")
                + f"); retry in {duration(retry_us)}",
                code="rate_limit_exceeded",
                type_=what,
                headers={
                    "retry-after": str(max(1, math.ceil(retry_us / 1_000_000))),
                    **{k.decode(): v.decode() for k, v in admission.headers},
                },
            )
        return admission

    @staticmethod
    def correction(admission: Admission, actual_tokens: int) -> tuple[list[str], list[str | int]] | None:
        """The forced GCRA run (keys, args) that corrects the token estimate; None when nothing to do."""
        if not admission.token_keys:
            return None
        keys: list[str] = []
        args: list[str | int] = ["1"]
        for key, tpm in admission.token_keys:
            correction = actual_tokens - min(admission.estimate, tpm)
            if correction:
                keys.append(key)
                args += limit_args(tpm, correction)
        return (keys, args) if keys else None


def _headers(kinds: list[tuple[RateRule, str, int]], backlogs: list[int]) -> list[tuple[bytes, bytes]]:
    """x-ratelimit-{limit,remaining,reset}-{requests,tokens} of the tightest limit of each kind."""
    out: list[tuple[bytes, bytes]] = []
    for kind in ("requests", "tokens"):
        best: tuple[int, int, int] | None = None  # (remaining, limit, backlog)
        for (_, k, limit), backlog in zip(kinds, backlogs, strict=True):
            if k != kind:
                continue
            left = remaining(limit, backlog)
            if best is None or left < best[0]:
                best = (left, limit, backlog)
        if best is not None:
            out += [
                (f"x-ratelimit-limit-{kind}".encode(), str(best[1]).encode()),
                (f"x-ratelimit-remaining-{kind}".encode(), str(best[0]).encode()),
                (f"x-ratelimit-reset-{kind}".encode(), duration(best[2]).encode()),
            ]
    return out
