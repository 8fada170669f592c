"""Raw JSON requests to a Kubernetes API server with the official client's configuration and auth.

Requests go over aegis.kube.wire's lean keep-alive connections (one pool per ApiClient, built from
its Configuration, closed with :func:`close_wire_pool` or when the client is collected), or over the
client's own urllib3 pool when the configuration needs it (a proxy) or ``wire=False``.
Synchronous and thread-safe. Retries 429 and transient 5xx with
exponential backoff that honours ``Retry-After``; errors carry the API server's Status message only.
The client's auth (its token refresh hook included) is asked at most once per ``auth_ttl`` seconds
and again after a 401, not on every request: the hook re-applies the whole kubeconfig, which scans
the environment for proxies (about a sixth of the client CPU of a create: 0.42 -> 0.35 ms).
"""

from __future__ import annotations

import email.utils
import functools
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
import urllib3
from kubernetes.client import ApiClient

from aegis.kube.wire import ConnectFailed, WirePool, wire_pool_for

#: Methods that may be re-sent after a 5xx or a broken connection without changing the outcome.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
#: 5xx answers worth retrying for idempotent methods; POST only retries 429 and 503 (not processed).
RETRYABLE_5XX = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request that was throttled or hit a transient failure."""

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Delay before attempt ``attempt + 1``: Retry-After when given, else jittered exponential."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        delay = min(self.max_delay, self.base_delay * (2**attempt))
        return delay * (0.5 + random.random() / 2)


class KubeAPIError(Exception):
    """A non-2xx answer (or a transport failure, status 0) with the API server's own message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}" if status else message)

    @classmethod
    def from_response(cls, response: KubeResponse) -> KubeAPIError:
        reason, message = "", ""
        try:
            body = orjson.loads(response.data) if response.data else {}
        except orjson.JSONDecodeError:
            body = {}
        if isinstance(body, dict) and body.get("kind") == "Status":
            reason = str(body.get("reason") or "")
            message = str(body.get("message") or "")
        if not message:
            message = response.data[:300].decode("utf-8", "replace").strip() or f"HTTP {response.status}"
        return cls(response.status, reason or _http_reason(response.status), message)


@dataclass(frozen=True)
class KubeResponse:
    status: int
    headers: Mapping[str, str]
    data: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass(frozen=True)
class ResourceRef:
    """Where a kind of object lives: API group ('' for core), version and plural resource name."""

    group: str
    version: str
    resource: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_name(self) -> str:
        """Velero-style name: ``configmaps`` for the core group, ``deployments.apps`` otherwise."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        return resource_path(self.group, self.version, self.resource, namespace, name)


def group_version_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def resource_path(
    group: str, version: str, resource: str, namespace: str | None = None, name: str | None = None
) -> str:
    """REST path of a collection or object; ``namespace=None`` means cluster-scoped or all namespaces."""
    path = _collection_path(group, version, resource, namespace)
    return path if name is None else f"{path}/{quote(name, safe='')}"


@functools.lru_cache(maxsize=4096)
def _collection_path(group: str, version: str, resource: str, namespace: str | None) -> str:
    path = group_version_path(group, version)
    if namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    return f"{path}/{resource}"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ('apps', 'v1'); ``v1`` -> ('', 'v1')."""
    group, _, version = api_version.rpartition("/")
    return group, version


_WIRE_POOLS: weakref.WeakKeyDictionary[ApiClient, WirePool | None] = weakref.WeakKeyDictionary()
_WIRE_LOCK = threading.Lock()


def shared_wire_pool(api_client: ApiClient) -> WirePool | None:
    """The wire pool of this ApiClient (made on first use; None when its configuration needs urllib3)."""
    with _WIRE_LOCK:
        if api_client in _WIRE_POOLS:
            return _WIRE_POOLS[api_client]
        pool = wire_pool_for(api_client.configuration)
        _WIRE_POOLS[api_client] = pool
        if pool is not None:
            weakref.finalize(api_client, pool.close)
        return pool


def close_wire_pool(api_client: ApiClient) -> None:
    """Close the ApiClient's wire connections (call before ``api_client.close()``)."""
    with _WIRE_LOCK:
        pool = _WIRE_POOLS.pop(api_client, None)
    if pool is not None:
        pool.close()


class KubeTransport:
    """JSON over lean keep-alive connections (or the ApiClient's urllib3 pool); auth headers come from
    the client (token refresh hooks included)."""

    def __init__(
        self,
        api_client: ApiClient,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = (10.0, 120.0),
        auth_ttl: float = 1.0,
        wire: bool = True,
    ) -> None:
        self.api_client = api_client
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.auth_ttl = auth_ttl
        self.wire = shared_wire_pool(api_client) if wire else None
        self._auth: _Auth | None = None
        self._auth_lock = threading.Lock()
        if isinstance(timeout, tuple):
            self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
            self._wire_timeouts: tuple[float | None, float | None] = timeout
        else:
            self._timeout = urllib3.Timeout(total=timeout)
            self._wire_timeouts = (timeout, timeout)

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> KubeResponse:
        """Send one request, retrying per policy; returns the final response whatever its status.

        Raises KubeAPIError(status=0) when the server cannot be reached after all attempts.
        """
        method = method.upper()
        attempt = 0
        reauthenticated = False
        while True:
            try:
                response = self._send(method, path, query, body)
                if response.status == 401 and not reauthenticated and self.auth_ttl > 0:
                    # Perhaps a token that expired since it was cached: ask the client again, once.
                    # A 401 was not processed, so even a POST may be sent again.
                    reauthenticated = True
                    self._auth = None
                    continue
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt + 1 >= self.retry.max_attempts or not _may_resend(method, exc):
                    raise KubeAPIError(
                        0, "ConnectionError", f"cannot reach API server: {_describe(exc)}"
                    ) from None
                self.retry.sleep(self.retry.backoff(attempt, None))
                attempt += 1
                continue
            if not _should_retry(method, response.status) or attempt + 1 >= self.retry.max_attempts:
                return response
            self.retry.sleep(self.retry.backoff(attempt, _retry_after(response.headers)))
            attempt += 1

    def get_json(self, path: str, query: Mapping[str, str | int] | None = None) -> Any:
        """GET and decode; raises KubeAPIError for any non-2xx answer."""
        response = self.request("GET", path, query)
        if not response.ok:
            raise KubeAPIError.from_response(response)
        return response.json()

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
    ) -> KubeResponse:
        auth = self._current_auth()
        target = path
        if query:
            # Encoded as the client's parameters_to_url_query does (keys as given, values quoted).
            target += "?" + "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
        payload = orjson.dumps(body) if body is not None else None
        if self.wire is not None and method != "HEAD":
            # The whole request in one write: request line, the cached header block, the body.
            head = f"{method} {target} HTTP/1.1\r\n".encode() + auth.header_block
            if payload is not None:
                head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
            request = head + b"\r\n" + (payload or b"")
            status, response_headers, data = self.wire.request(request, *self._wire_timeouts)
            return KubeResponse(status=status, headers=response_headers, data=data)
        headers = dict(auth.headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        # Straight to the client's urllib3 pool: no hidden urllib3 retries (this class owns retrying,
        # with its own Retry-After handling) and orjson bodies instead of json.dumps.
        http_response = self.api_client.rest_client.pool_manager.request(
            method,
            auth.host + target,
            body=payload,
            headers=headers,
            timeout=self._timeout,
            preload_content=False,
            retries=False,
        )
        try:
            data = http_response.data
        finally:
            http_response.release_conn()
        return KubeResponse(status=http_response.status, headers=http_response.headers, data=data or b"")

    def _current_auth(self) -> _Auth:
        """The base URL and the headers (auth, User-Agent, ...) the client would send, cached."""
        cached = self._auth
        if cached is not None and time.monotonic() - cached.fetched_at < self.auth_ttl:
            return cached
        with self._auth_lock:
            cached = self._auth
            if cached is not None and time.monotonic() - cached.fetched_at < self.auth_ttl:
                return cached
            _, host, headers, _, _ = self.api_client.param_serialize(
                method="GET",
                resource_path="",
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            self._auth = _Auth.of(host, dict(headers), self.wire)
            return self._auth


@dataclass(frozen=True)
class _Auth:
    """What the client would send, as fetched at ``fetched_at``; ``header_block``: the same headers
    (and Host) as HTTP/1.1 header lines, for the wire pool."""

    fetched_at: float
    host: str
    headers: dict[str, str]
    header_block: bytes

    @classmethod
    def of(cls, host: str, headers: dict[str, str], wire: WirePool | None) -> _Auth:
        block = b""
        if wire is not None:
            lines = [f"Host: {wire.host_header}"]
            lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in _WIRE_OWN_HEADERS]
            for line in lines:
                if "\r" in line or "\n" in line:
                    raise ValueError("a header of the Kubernetes client configuration holds a line break")
            block = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        return cls(time.monotonic(), host, headers, block)


#: Headers the wire request writes itself (or must not carry).
_WIRE_OWN_HEADERS = frozenset({"host", "content-type", "content-length", "connection", "transfer-encoding"})


def _should_retry(method: str, status: int) -> bool:
    if status == 429:
        return True
    if method in IDEMPOTENT_METHODS:
        return status in RETRYABLE_5XX
    return status == 503


def _may_resend(method: str, exc: BaseException) -> bool:
    if method in IDEMPOTENT_METHODS:
        return True
    # A POST is only re-sent when it provably never reached the server.
    cause = getattr(exc, "reason", None) or exc
    return isinstance(
        cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError | ConnectFailed
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason or exc}"


def _http_reason(status: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }.get(status, f"HTTP{status}")
