"""Calling upstreams: one pooled aiohttp session per provider, and the attempt loop that retries with
backoff and jitter (honouring Retry-After within the request's deadline), cools failing deployments
down and falls back to the next deployment in the plan."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client import Counter

from cerebra.gateway.inprocess import InProcessSession
from cerebra.providers import ProviderError, UpstreamRequest
from cerebra.routing.health import DeploymentHealth
from cerebra.routing.table import Deployment

UPSTREAM_ATTEMPTS = Counter(
    "cerebra_upstream_attempts_total", "Upstream attempts by outcome", ["provider", "outcome"]
)

# A provider's 4xx is the caller's answer (status and message; no retry, no fallback, no cooldown), except
# 408/429 (retried, then the next deployment) and 401/403/407, which are about the gateway's own
# credentials: the operator's problem, so the next deployment is tried and the caller gets 502 saying so
# (their text can echo part of the provider key, so it is never relayed).
CLIENT_ERROR_STATUSES = frozenset(range(400, 500)) - {401, 403, 407, 408, 429}
NATIVE_PASS_THROUGH = CLIENT_ERROR_STATUSES
CREDENTIAL_STATUSES = frozenset({401, 403, 407})
MAX_ERROR_BODY = 64 * 1024


@dataclass(slots=True)
class AttemptRecord:
    """One try (or skip) of one deployment, reported in errors and the x-oco-attempts header."""

    deployment: str
    outcome: str
    status: int | None = None
    reason: str | None = None  # set when the outcome alone does not say why (e.g. an unset key variable)

    def as_dict(self) -> dict:
        out = {"deployment": self.deployment, "outcome": self.outcome, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(slots=True)
class UpstreamResult:
    """A deployment answered: either with the whole body (`data`) or an open stream (`response`).
    `client_error` marks a provider 4xx (CLIENT_ERROR_STATUSES) that is passed back to the caller."""

    deployment: Deployment
    status: int
    attempts: list[AttemptRecord]
    upstream_s: float
    waited_s: float
    data: bytes | None = None
    response: aiohttp.ClientResponse | None = None
    content_type: str | None = None
    client_error: bool = False
    header_latency_s: float = 0.0


@dataclass(slots=True)
class AllDeploymentsFailed(Exception):
    """Nothing answered: `attempts` says what was tried and why it failed."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    last_message: str = ""
    retry_after_s: float | None = None
    incompatible: ProviderError | None = None  # set when some deployment could not take the request

    @property
    def tried(self) -> list[AttemptRecord]:
        return [a for a in self.attempts if not a.outcome.startswith("skipped")]

    @property
    def timed_out(self) -> bool:
        tried = [a for a in self.attempts if not a.outcome.startswith("skipped")]
        return bool(tried) and all(a.outcome == "timeout" for a in tried)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds form; HTTP dates are treated as absent)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class UpstreamClient:
    """Pooled HTTP sessions (keep-alive, connection limits) and the retry/fallback loop."""

    def __init__(
        self,
        health: DeploymentHealth,
        *,
        pool_size: int = 512,
        connect_timeout_s: float = 10.0,
        retries: int = 1,
        retry_base_s: float = 0.25,
        max_retry_wait_s: float = 10.0,
    ) -> None:
        self.health = health
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self.retry_base_s = retry_base_s
        self.max_retry_wait_s = max_retry_wait_s
        # the mock provider is answered in-process; every other provider gets a pooled aiohttp session
        self._sessions: dict[str, aiohttp.ClientSession] = {"mock": InProcessSession()}  # type: ignore[dict-item]
        self._counters: dict[tuple[str, str], Counter] = {}

    def session(self, provider: str) -> aiohttp.ClientSession:
        """The provider's session, created on first use (inside the running loop)."""
        session = self._sessions.get(provider)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, ttl_dns_cache=300, keepalive_timeout=30)
            session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
            self._sessions[provider] = session
        return session

    async def close(self) -> None:
        """Close every session (application shutdown)."""
        for session in self._sessions.values():
            await session.close()
        self._sessions = {"mock": InProcessSession()}  # type: ignore[dict-item]

    def _timeout(self, deployment: Deployment, stream: bool, remaining_s: float) -> aiohttp.ClientTimeout:
        connect = min(self.connect_timeout_s, deployment.timeout_s, remaining_s)
        if stream:  # a stream may run long; bound the wait for each chunk instead
            return aiohttp.ClientTimeout(
                total=None, connect=connect, sock_read=min(deployment.timeout_s, remaining_s)
            )
        return aiohttp.ClientTimeout(total=min(deployment.timeout_s, remaining_s), connect=connect)

    async def call(
        self,
        plan: list[Deployment],
        build: Callable[[Deployment], UpstreamRequest],
        *,
        stream: bool,
        deadline: float,
        pass_through: frozenset[int] = CLIENT_ERROR_STATUSES,
        event_stream: bool | None = None,
    ) -> UpstreamResult:
        """Try the plan in order until a deployment answers. Statuses in `pass_through` are the caller's
        to see (returned, not retried). Timeouts, connection errors, 429, 5xx and broken 2xx answers (an
        empty body; a stream request answered with something other than an event stream, when
        `event_stream`, by default `stream`) count against a deployment's health and fall back to the
        next one. A deployment that cannot take the request (ProviderError from `build`) is skipped.
        Raises AllDeploymentsFailed."""
        event_stream = stream if event_stream is None else event_stream
        attempts: list[AttemptRecord] = []
        upstream_s = waited_s = 0.0
        last_message = ""
        min_retry_after: float | None = None
        incompatible: ProviderError | None = None
        for deployment in plan:
            if time.monotonic() >= deadline:
                break
            if deployment.missing_key_env is not None:  # never an unauthenticated upstream call
                last_message = (
                    f"{deployment.provider} key variable {deployment.missing_key_env} is not set "
                    f"(deployment {deployment.id})"
                )
                attempts.append(AttemptRecord(deployment.id, "missing_key", None, last_message))
                continue
            if await self.health.is_cooling(deployment.id):
                attempts.append(AttemptRecord(deployment.id, "skipped_cooldown"))
                continue
            try:
                request = build(deployment)
            except ProviderError as exc:
                incompatible = incompatible or exc
                attempts.append(AttemptRecord(deployment.id, "skipped_incompatible"))
                continue
            if not await self.health.within_limits(deployment.id, deployment.max_rpm, deployment.max_tpm):
                attempts.append(AttemptRecord(deployment.id, "skipped_rate_limit"))
                continue
            session = self.session(deployment.provider)
            retry_after: float | None = None
            unhealthy = False
            for try_number in range(self.retries + 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                started = time.monotonic()
                outcome, status, retry_after, message = "ok", None, None, ""
                try:
                    response = await session.request(
                        request.method,
                        request.url,
                        data=request.body,
                        headers=request.headers,
                        timeout=self._timeout(deployment, stream, remaining),
                        allow_redirects=False,
                    )
                except TimeoutError:
                    outcome, message = "timeout", f"{deployment.provider} did not answer in time"
                except aiohttp.ClientError as exc:
                    outcome, message = (
                        "connect_error",
                        f"{deployment.provider} unreachable ({type(exc).__name__})",
                    )
                else:
                    status = response.status
                    header_latency = time.monotonic() - started
                    broken = broken_answer(response, stream=stream, event_stream=event_stream)
                    if broken is not None:
                        await _read_quietly(response)
                        outcome, message = "bad_response", f"{deployment.provider} {broken}"
                    elif status < 300 or status in pass_through:
                        result = UpstreamResult(
                            deployment,
                            status,
                            attempts,
                            upstream_s,
                            waited_s,
                            client_error=status >= 300,
                            content_type=response.headers.get("content-type"),
                            header_latency_s=header_latency,
                        )
                        if stream and status < 300:
                            result.response = response
                            attempts.append(AttemptRecord(deployment.id, "ok", status))
                            self._count(deployment.provider, "ok")
                            result.upstream_s = upstream_s + header_latency
                            return result
                        try:
                            if status < 300:
                                result.data = await response.read()
                                if not result.data.strip():
                                    outcome = "bad_response"
                                    message = (
                                        f"{deployment.provider} answered HTTP {status} with an empty body"
                                    )
                            else:
                                result.data = scrub_key(
                                    await response.content.read(MAX_ERROR_BODY), deployment
                                )
                        except TimeoutError:
                            outcome, message = "timeout", f"{deployment.provider} did not answer in time"
                        except aiohttp.ClientError as exc:
                            outcome, message = (
                                "connect_error",
                                f"{deployment.provider} broke off ({type(exc).__name__})",
                            )
                        finally:
                            response.release()
                        if outcome == "ok":
                            attempts.append(
                                AttemptRecord(deployment.id, "ok" if status < 300 else "client_error", status)
                            )
                            self._count(deployment.provider, "ok" if status < 300 else "client_error")
                            result.upstream_s = upstream_s + time.monotonic() - started
                            return result
                    else:
                        retry_after = retry_after_seconds(response.headers.get("retry-after"))
                        body = scrub_key(await _read_quietly(response), deployment)
                        outcome = "rate_limited" if status == 429 else f"http_{status}"
                        if status in CREDENTIAL_STATUSES:  # the provider's text may echo part of our key
                            message = (
                                f"{deployment.provider} refused the gateway's credentials (HTTP {status}); "
                                f"check the key in {deployment.key_env or 'the deployment key variable'}"
                            )
                        else:
                            message = f"{deployment.provider} answered HTTP {status}: {_short(body)}"
                upstream_s += time.monotonic() - started
                attempts.append(AttemptRecord(deployment.id, outcome, status, message or None))
                self._count(deployment.provider, outcome)
                last_message = message
                retryable = (
                    outcome in ("timeout", "connect_error", "rate_limited", "bad_response")
                    or (status or 0) >= 500
                )
                unhealthy = unhealthy or retryable
                if not retryable or try_number == self.retries:
                    break
                delay = self.retry_base_s * (2**try_number) * (0.5 + random.random())
                if retry_after is not None:
                    delay = max(delay, retry_after)
                if delay > self.max_retry_wait_s or time.monotonic() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
                waited_s += delay
            if retry_after is not None:
                min_retry_after = (
                    retry_after if min_retry_after is None else min(min_retry_after, retry_after)
                )
            if unhealthy:
                await self.health.record_failure(deployment.id, retry_after)
        raise AllDeploymentsFailed(attempts, last_message, min_retry_after, incompatible)

    def _count(self, provider: str, outcome: str) -> None:
        key = (provider, outcome)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = UPSTREAM_ATTEMPTS.labels(provider, outcome)
        child.inc()


#: 2xx statuses that carry no body: never a valid answer to an inference call
BODILESS = frozenset({204, 205})


def broken_answer(response: aiohttp.ClientResponse, *, stream: bool, event_stream: bool) -> str | None:
    """Why a 2xx answer cannot be relayed, judged on its status and headers (before any byte reaches the
    caller), or None: no body at all, or a stream request answered with a plain (e.g. JSON) body."""
    status = response.status
    if status >= 300:
        return None
    if status in BODILESS or response.headers.get("content-length") == "0":
        return f"answered HTTP {status} with an empty body"
    if event_stream:
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "text/event-stream":
            return f"answered a stream request with {content_type[:60] or 'no content type'}, not an event stream"
    return None


def scrub_key(body: bytes, deployment: Deployment) -> bytes:
    """An upstream error body without the deployment's own provider key, whatever its shape (the
    pattern-based redaction only knows the well-known prefixes): error bodies reach callers and logs."""
    key = deployment.target.api_key
    return body.replace(key.encode(), b"[redacted]") if key and len(key) >= 8 else body


async def _read_quietly(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.content.read(2000)
    except (aiohttp.ClientError, TimeoutError):
        return b""
    finally:
        response.release()


def _short(body: bytes) -> str:
    from cerebra.providers.base import redact

    text = body[:300].decode("utf-8", "replace").strip()
    return redact(text) if text else "(empty body)"
