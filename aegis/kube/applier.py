"""Create objects on a cluster; an existing one is skipped or, under ``update``, replaced when it differs.

``skip``: create, and on 409 AlreadyExists leave the live object alone. ``update``: read the live object
first; absent, create it; equal to the desired one (see aegis.kube.sameness) it is left alone and
reported ``unchanged``; otherwise it is replaced with the live resourceVersion (a conflict re-reads).
So an update restore over objects that did not change sends reads only, no writes.

Synchronous and thread-safe: one Applier may be shared by the threads of a restore pool. Dry run
changes nothing: it reads what exists and asks the server to validate with ``dryRun=All``.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubernetes.client import ApiClient

from aegis.kube.sameness import first_difference
from aegis.kube.transport import KubeAPIError, KubeTransport, ResourceRef

CRD_REF = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
NAMESPACE_REF = ResourceRef("", "v1", "namespaces", namespaced=False)


class ExistingResourcePolicy(StrEnum):
    SKIP = "skip"
    UPDATE = "update"


class ApplyOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # update policy: the live object already equals the desired one
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ApplyResult:
    outcome: ApplyOutcome
    message: str = ""


class CRDNotEstablishedError(Exception):
    """A CustomResourceDefinition did not report Established=True in time."""


class Applier:
    """Applies one object per call; ``dry_run`` answers what would happen without changing anything."""

    def __init__(
        self,
        api_client: ApiClient | KubeTransport,
        *,
        policy: ExistingResourcePolicy | str = ExistingResourcePolicy.SKIP,
        dry_run: bool = False,
        conflict_retries: int = 3,
        ignored_labels: Collection[str] = (),
    ) -> None:
        """``ignored_labels``: labels the restore stamps (its backup and restore names), left out when
        deciding whether a live object is unchanged."""
        self.transport = api_client if isinstance(api_client, KubeTransport) else KubeTransport(api_client)
        self.policy = ExistingResourcePolicy(policy)
        self.dry_run = dry_run
        self.conflict_retries = conflict_retries
        self.ignored_labels = frozenset(ignored_labels)

    def apply(self, ref: ResourceRef, obj: dict[str, Any]) -> ApplyResult:
        """Create ``obj`` at ``ref`` (namespace and name from ``obj['metadata']``); never raises KubeAPIError."""
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace") if ref.namespaced else None
        name = metadata.get("name")
        if not name:
            return ApplyResult(ApplyOutcome.FAILED, "object has no metadata.name")
        if ref.namespaced and not namespace:
            return ApplyResult(ApplyOutcome.FAILED, "namespaced object has no metadata.namespace")
        try:
            if self.dry_run:
                return self._dry_run(ref, namespace, name, obj)
            if self.policy is ExistingResourcePolicy.UPDATE:
                return self._create_or_update(ref, namespace, name, obj)
            response = self.transport.request("POST", ref.path(namespace), body=obj)
            if response.ok:
                return ApplyResult(ApplyOutcome.CREATED)
            error = KubeAPIError.from_response(response)
            if response.status != 409 or error.reason != "AlreadyExists":
                return ApplyResult(ApplyOutcome.FAILED, str(error))
            return ApplyResult(ApplyOutcome.SKIPPED, "already exists")
        except KubeAPIError as exc:
            return ApplyResult(ApplyOutcome.FAILED, str(exc))

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> ApplyResult:
        """Create a bare namespace unless it exists (an existing one is SKIPPED whatever the policy)."""
        try:
            existing = self.transport.request("GET", NAMESPACE_REF.path(name=name))
        except KubeAPIError as exc:
            return ApplyResult(ApplyOutcome.FAILED, str(exc))
        if existing.ok:
            return ApplyResult(ApplyOutcome.SKIPPED, "already exists")
        if existing.status != 404:
            return ApplyResult(ApplyOutcome.FAILED, str(KubeAPIError.from_response(existing)))
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels or {})},
        }
        result = Applier(self.transport, policy=ExistingResourcePolicy.SKIP, dry_run=self.dry_run).apply(
            NAMESPACE_REF, body
        )
        if result.outcome is ApplyOutcome.CREATED:
            if self.dry_run:
                return ApplyResult(ApplyOutcome.CREATED, "dry run: would create (namespace not in backup)")
            return ApplyResult(ApplyOutcome.CREATED, "namespace not in backup; created empty")
        return result

    def wait_crd_established(self, name: str, timeout: float = 60.0, poll: float = 0.2) -> None:
        """Poll the CRD until its Established condition is True; raises CRDNotEstablishedError."""
        deadline = time.monotonic() + timeout
        last = "not found"
        while True:
            response = self.transport.request("GET", CRD_REF.path(name=name))
            if response.ok:
                conditions = (response.json().get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    return
                last = "Established condition is not True"
            elif response.status != 404:
                last = str(KubeAPIError.from_response(response))
            if time.monotonic() >= deadline:
                raise CRDNotEstablishedError(f"CRD {name} not established after {timeout:.0f}s: {last}")
            time.sleep(poll)

    def _create_or_update(
        self, ref: ResourceRef, namespace: str | None, name: str, obj: dict[str, Any]
    ) -> ApplyResult:
        """Read first: create what is absent, leave what is equal, replace what differs."""
        path = ref.path(namespace, name)
        error: KubeAPIError | None = None
        for _ in range(self.conflict_retries + 1):
            live = self.transport.request("GET", path)
            if live.status == 404:
                response = self.transport.request("POST", ref.path(namespace), body=obj)
                if response.ok:
                    return ApplyResult(ApplyOutcome.CREATED)
                error = KubeAPIError.from_response(response)
                if response.status == 409 and error.reason == "AlreadyExists":
                    continue  # created meanwhile: compare with that one
                break
            if not live.ok:
                return ApplyResult(ApplyOutcome.FAILED, str(KubeAPIError.from_response(live)))
            live_obj = live.json()
            difference = first_difference(obj, live_obj, self.ignored_labels)
            if difference is None:
                return ApplyResult(ApplyOutcome.UNCHANGED)
            response = self.transport.request("PUT", path, body=_with_resource_version(obj, live_obj))
            if response.ok:
                return ApplyResult(ApplyOutcome.UPDATED, f"differed at {difference}")
            error = KubeAPIError.from_response(response)
            if response.status != 409:
                break
        return ApplyResult(ApplyOutcome.FAILED, str(error))

    def _dry_run(
        self, ref: ResourceRef, namespace: str | None, name: str, obj: dict[str, Any]
    ) -> ApplyResult:
        dry = {"dryRun": "All"}
        live = self.transport.request("GET", ref.path(namespace, name))
        if live.ok:
            if self.policy is ExistingResourcePolicy.SKIP:
                return ApplyResult(ApplyOutcome.SKIPPED, "dry run: already exists, would skip")
            live_obj = live.json()
            difference = first_difference(obj, live_obj, self.ignored_labels)
            if difference is None:
                return ApplyResult(ApplyOutcome.UNCHANGED, "dry run: equals the live object, would leave it")
            body = _with_resource_version(obj, live_obj)
            response = self.transport.request("PUT", ref.path(namespace, name), query=dry, body=body)
            if response.ok:
                return ApplyResult(ApplyOutcome.UPDATED, f"dry run: would update (differs at {difference})")
            return ApplyResult(ApplyOutcome.FAILED, str(KubeAPIError.from_response(response)))
        response = self.transport.request("POST", ref.path(namespace), query=dry, body=obj)
        if response.ok:
            return ApplyResult(ApplyOutcome.CREATED, "dry run: would create")
        if response.status == 404:
            # The namespace or the CRD it needs is itself only created by this (dry) restore.
            return ApplyResult(
                ApplyOutcome.CREATED, "dry run: would create (not validated: its namespace or type is new)"
            )
        return ApplyResult(ApplyOutcome.FAILED, str(KubeAPIError.from_response(response)))


def _with_resource_version(obj: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The replacement body: ours, with the live resourceVersion and the live object's allocations."""
    body = dict(obj)
    metadata = dict(body.get("metadata") or {})
    metadata["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion", "")
    body["metadata"] = metadata
    if live.get("kind") == "Service" and isinstance(body.get("spec"), dict):
        # Restores strip clusterIP(s); API servers before 1.22-ish refuse to unset them on update.
        spec, live_spec = dict(body["spec"]), live.get("spec") or {}
        for key in ("clusterIP", "clusterIPs"):
            if not spec.get(key) and live_spec.get(key):
                spec[key] = live_spec[key]
        body["spec"] = spec
    return body
