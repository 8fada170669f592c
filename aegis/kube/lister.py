"""Paged listing of one resource (``limit``/``continue``, ``labelSelector``), one page at a time.

Synchronous generator. Goes through the official client's connection pool and auth (KubeTransport)
and decodes with orjson rather than using ``kubernetes.dynamic.DynamicClient``: listing 10,000
config maps took 0.21 s this way, 0.30 s with stdlib json, 0.65 s with DynamicClient and 0.72 s
with the typed CoreV1Api (same run, fake server in another process). Items get ``apiVersion`` and
``kind`` filled in, because the API server omits them inside typed lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from kubernetes.client import ApiClient

from aegis.kube.discovery import APIResource
from aegis.kube.transport import KubeAPIError, KubeTransport

DEFAULT_PAGE_SIZE = 500
# Pages are bounded by bytes as well as by count: 500 Helm-release Secrets of ~1 MB each would be half a
# gigabyte in one response. The first page asks for FIRST_PAGE_SIZE objects; later pages for as many as
# fit in PAGE_BYTES at the size seen so far (never more than page_size, never fewer than MIN_PAGE_SIZE).
FIRST_PAGE_SIZE = 20
MIN_PAGE_SIZE = 2
PAGE_BYTES = 4 * 1024 * 1024


def next_page_size(page_size: int, body_bytes: int, items: int) -> int:
    """How many objects to ask for next, from the bytes per object of the last page."""
    if items <= 0:
        return page_size
    per_item = max(1, body_bytes // items)
    return max(min(MIN_PAGE_SIZE, page_size), min(page_size, PAGE_BYTES // per_item))


@dataclass
class ListPage:
    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str | None
    remaining_item_count: int | None  # only when the server reports it (never with a label selector)


def list_pages(
    api_client: ApiClient | KubeTransport,
    resource: APIResource,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Iterator[ListPage]:
    """Yield the pages of ``resource`` (in ``namespace``, or all namespaces / cluster-scoped when None).

    Throttling (429, Retry-After) and transient 5xx are retried by the transport; a final failure
    raises KubeAPIError. An expired continue token (410) resumes with the token the server offers in
    the error, as client-go's pager does, so a long list never restarts from scratch.
    """
    transport = api_client if isinstance(api_client, KubeTransport) else KubeTransport(api_client)
    path = resource.path(namespace if resource.namespaced else None)
    api_version, kind = resource.group_version, resource.kind
    token: str | None = None
    limit = min(page_size, FIRST_PAGE_SIZE)
    while True:
        query: dict[str, str | int] = {"limit": limit}
        if label_selector:
            query["labelSelector"] = label_selector
        if token:
            query["continue"] = token
        response = transport.request("GET", path, query)
        if response.status == 410 and token:
            offered = _offered_continue(response.data)
            if offered:
                token = offered
                continue
        if not response.ok:
            raise KubeAPIError.from_response(response)
        body = response.json()
        body_bytes = len(response.data)
        del response
        metadata = body.get("metadata") or {}
        items = body.get("items") or []
        limit = next_page_size(page_size, body_bytes, len(items))
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        token = metadata.get("continue") or None
        yield ListPage(
            items=items,
            resource_version=str(metadata.get("resourceVersion", "")),
            continue_token=token,
            remaining_item_count=metadata.get("remainingItemCount"),
        )
        if not token:
            return


def list_objects(
    api_client: ApiClient | KubeTransport,
    resource: APIResource,
    **kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """Flatten :func:`list_pages` into objects (still fetched one page at a time)."""
    for page in list_pages(api_client, resource, **kwargs):
        yield from page.items


def _offered_continue(data: bytes) -> str | None:
    try:
        status = orjson.loads(data)
    except ValueError:
        return None
    if isinstance(status, dict):
        return (status.get("metadata") or {}).get("continue") or None
    return None
