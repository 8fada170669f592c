"""What is cached and for whom: the route table's `cache:` block, the caller's `Cache-Control` and
`x-oco-cache-ttl` directives, the temperature rule and the key-scope namespace of an entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oco.auth import Principal
from oco.errors import ApiError

TTL_HEADER = "x-oco-cache-ttl"
# OpenAI samples at temperature 1 when the request does not say: an omitted temperature is > 0
DEFAULT_TEMPERATURE = 1.0


class CacheSpec(BaseModel):
    """`cache:` on an alias in the route table."""

    model_config = ConfigDict(extra="forbid")

    ttl_s: int = Field(gt=0, le=30 * 86400, description="how long an answer is served from the cache")
    temperature_ok: bool = Field(
        False, description="also cache sampled answers (temperature > 0, or omitted: OpenAI's default is 1)"
    )
    share: Literal["key", "team", "org", "all"] = Field(
        "key",
        description="who reads an entry: the key that wrote it (default), every key bound to the same "
        "team or org, or every caller of the alias",
    )


@dataclass(slots=True, frozen=True)
class Decision:
    """What the cache does with one request: read it (lookup), write its answer, for how long, where."""

    read: bool
    write: bool
    ttl_s: int
    namespace: str

    @property
    def used(self) -> bool:
        return self.read or self.write


def _directives(cache_control: str | None) -> set[str]:
    if not cache_control:
        return set()
    return {part.strip().lower().split("=", 1)[0] for part in cache_control.split(",")}


def requested_ttl(value: str | None, max_ttl_s: int) -> int | None:
    """The `x-oco-cache-ttl` header as seconds (0: do not store), or a 400 naming the header."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or int(text) > max_ttl_s:
        raise ApiError(
            400,
            f"{TTL_HEADER} must be a whole number of seconds from 0 to {max_ttl_s}",
            param=TTL_HEADER,
            code="invalid_header",
        )
    return int(text)


def namespace(share: str, principal: Principal | None) -> str:
    """The scope an entry lives in. Team and org sharing use only what the key is bound to (a header
    naming a team is a claim anyone can make); an unbound key falls back to its own scope."""
    if share == "all":
        return "all"
    if principal is None:
        return "anonymous"
    if share == "team" and principal.team:
        return "team:" + principal.team
    if share == "org" and principal.org:
        return "org:" + principal.org
    return f"key:{principal.key_id}"


def sampled(body: dict) -> bool:
    """Whether the answer is sampled (temperature > 0, omitted meaning OpenAI's default 1); a value of
    the wrong type counts as sampled (the provider will reject it anyway)."""
    value = body.get("temperature")
    if value is None:
        return DEFAULT_TEMPERATURE > 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return value > 0


def decide(
    spec: CacheSpec | None,
    body: dict,
    cache_control: str | None,
    ttl_header: str | None,
    principal: Principal | None,
    max_ttl_s: int,
) -> Decision | None:
    """None when the call is not cacheable at all (no `cache:` on the route and no ttl header: no
    `x-oco-cache` header either). A ttl header makes one call cacheable on any route, in the caller's
    own key scope, and sets the TTL of the entry it writes (0: write nothing)."""
    ttl = requested_ttl(ttl_header, max_ttl_s)
    if spec is None:
        if ttl is None:
            return None
        spec = CacheSpec.model_construct(ttl_s=ttl or 1, temperature_ok=False, share="key")
    if sampled(body) and not spec.temperature_ok:
        return Decision(read=False, write=False, ttl_s=0, namespace="")
    directives = _directives(cache_control)
    ttl_s = spec.ttl_s if ttl is None else ttl
    return Decision(
        read="no-cache" not in directives,
        write="no-store" not in directives and ttl_s > 0,
        ttl_s=ttl_s,
        namespace=namespace(spec.share, principal),
    )
