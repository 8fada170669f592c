"""The response cache's two hooks on /v1/chat/completions: `answer()` before the upstream call (serve a
hit, or leave a PendingWrite on the call) and `save()` once the call is priced, before its last byte is
released (only a complete 200 answer is stored). A hit costs $0, reaches no provider and reserves no
budget, but is admitted by the caller's rate limits as a request. Kv failures fail open."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING

import orjson

from cerebra.cache.assemble import assemble
from cerebra.cache.entry import CachedAnswer
from cerebra.cache.keys import cache_key
from cerebra.cache.metrics import CACHE_ERRORS, CACHE_HITS, CACHE_MISSES
from cerebra.cache.pending import PendingWrite
from cerebra.cache.policy import TTL_HEADER, decide
from cerebra.cache.replay import completion_body, stream_body
from cerebra.cache.store import CacheStore
from cerebra.control.estimate import prompt_tokens
from cerebra.gateway.chat import SSE_HEADERS, model_not_allowed
from cerebra.gateway.context import CallContext
from cerebra.gateway.http import JSON_CT, Headers, Send, send_bytes

if TYPE_CHECKING:
    from cerebra.gateway.core import Gateway

log = logging.getLogger("cerebra.cache")

HIT, MISS, SKIP = b"hit", b"miss", b"skip"
ZERO = Decimal("0")


class ResponseCache:
    """Exact-match cache of chat answers in `store` (entries above `max_entry_bytes` are not kept)."""

    def __init__(self, store: CacheStore, *, max_entry_bytes: int, max_ttl_s: int) -> None:
        self.store = store
        self.max_entry_bytes = max_entry_bytes
        self.max_ttl_s = max_ttl_s

    async def answer(self, gw: Gateway, ctx: CallContext, body: dict, headers: Headers, send: Send) -> bool:
        """True when the call was answered from the cache. Otherwise it goes upstream, with
        `ctx.cache_pending` set when its answer is to be stored."""
        alias = ctx.alias or ""
        route = gw.routes.current().route_for(alias)
        spec = route.cache if route is not None else None
        ttl_header = headers.get(TTL_HEADER)
        if spec is None and ttl_header is None:
            return False
        if ctx.principal is not None and not ctx.principal.may_call(alias):
            raise model_not_allowed(alias)  # before any lookup: an allow-list is never served around
        decision = decide(spec, body, headers.get("cache-control"), ttl_header, ctx.principal, self.max_ttl_s)
        if decision is None:
            return False
        key = cache_key(decision.namespace, body) if decision.used else None
        if key is None:
            ctx.cache_status = SKIP
            return False
        if decision.write:
            ctx.cache_pending = PendingWrite(key, decision.ttl_s, self.max_entry_bytes)
        if not decision.read:
            ctx.cache_status = SKIP
            return False
        cached = await self._get(key)
        if cached is None:
            ctx.cache_status = MISS
            CACHE_MISSES.labels(alias).inc()
            return False
        await self._serve(gw, ctx, body, cached, send)
        return True

    async def _get(self, key: str) -> CachedAnswer | None:
        try:
            data = await self.store.get(key)
        except Exception as exc:  # noqa: BLE001 - the cache fails open: a miss
            CACHE_ERRORS.labels("read").inc()
            log.warning("response cache read failed (%s): treated as a miss", type(exc).__name__)
            return None
        return CachedAnswer.loads(data) if data is not None else None

    async def _serve(
        self, gw: Gateway, ctx: CallContext, body: dict, cached: CachedAnswer, send: Send
    ) -> None:
        """A hit: admitted by the rate limits (429 as usual), logged at $0 with the cost it saved."""
        ctx.cache_pending, ctx.cache_status = None, HIT  # a 429 below still says where the answer was
        if gw.limiter is not None:
            ctx.rate = await gw.limiter.admit(ctx.scopes(), ctx.alias, prompt_tokens(body))
        ctx.cache_hit = True
        ctx.cost, ctx.saved_cost = ZERO, cached.cost
        ctx.provider, ctx.model = cached.provider, cached.model
        CACHE_HITS.labels(ctx.alias or "").inc()
        if not ctx.stream:
            await send_bytes(
                send, 200, completion_body(cached.completion), [JSON_CT, *ctx.response_headers()]
            )
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        frames = stream_body(cached.completion, include_usage)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *ctx.response_headers()]}
        )
        ctx.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)
        await send({"type": "http.response.body", "body": frames, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def save(self, ctx: CallContext) -> None:
        """Store the answer of a complete, successful call (never an error or a partial stream)."""
        pending, ctx.cache_pending = ctx.cache_pending, None
        if pending is None or ctx.status != 200 or ctx.error or ctx.cache_hit:
            return
        completion: dict | None = None
        if pending.completion is not None:
            try:
                completion = orjson.loads(pending.completion)
            except orjson.JSONDecodeError:
                completion = None
        elif pending.recorder is not None and not pending.recorder.overflow:
            completion = assemble(pending.recorder.parts, ctx.usage)
        if not isinstance(completion, dict):
            return
        entry = CachedAnswer(completion, None if ctx.unpriced else ctx.cost, ctx.provider, ctx.model).dumps()
        if len(entry) > self.max_entry_bytes:
            return
        try:
            await self.store.put(pending.key, entry, pending.ttl_s)
        except Exception as exc:  # noqa: BLE001 - not cached; the caller has its answer
            CACHE_ERRORS.labels("write").inc()
            log.warning("response cache write failed (%s)", type(exc).__name__)
