"""An in-process fake Kubernetes API server on loopback, speaking the REST paths the official client uses.

Discovery (/version, /api, /api/v1, /apis, /apis/<g>/<v>), list (labelSelector, limit, continue,
remainingItemCount), get, create (409 AlreadyExists), replace (resourceVersion conflicts), delete,
404 Status bodies, server-set uid/creationTimestamp/resourceVersion, dryRun=All, CRDs that add served
resources once Established, and injectable faults (429 + Retry-After, 5xx, failure on one object).
Workload status as a controller would write it: with ``workloads_available`` set, Deployments, StatefulSets
and DaemonSets report their replicas available (except the names in ``never_available``); unset, they
report none available, as an API server without controllers does.
Every request is recorded; ``write_counts`` counts the write requests (POST, PUT, PATCH, DELETE) by verb.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from tests.aegis.fake_kube.labels import matches, parse_selector
from tests.aegis.fake_kube.resources import ResourceType, builtin_types, version_priority

WORKLOAD_PLURALS = ("deployments", "statefulsets", "daemonsets")

#: The verbs that ask the API server to change something (whatever the answer).
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Fault:
    """Answer ``status`` to requests matching method + path regex (+ object name for writes).

    ``times=None`` means every time. ``retry_after`` adds a Retry-After header (seconds).
    """

    method: str
    path: str
    status: int
    times: int | None = 1
    retry_after: int | None = None
    message: str = "injected fault"
    reason: str = ""
    name: str | None = None
    query_key: str | None = None  # only requests carrying this query parameter (e.g. "continue")
    status_metadata: dict[str, Any] = field(default_factory=dict)  # e.g. {"continue": token} on a 410
    hits: int = 0

    def applies(self, method: str, path: str, name: str | None, query: dict[str, str]) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if method != self.method or not re.fullmatch(self.path, path):
            return False
        if self.query_key is not None and self.query_key not in query:
            return False
        return self.name is None or self.name == name


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


@dataclass
class _Error(Exception):
    status: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class FakeKube:
    """The state and REST semantics; FakeKubeServer puts it on a socket."""

    def __init__(self, token: str, crd_establish_delay: float = 0.0) -> None:
        self.token = token
        self.crd_establish_delay = crd_establish_delay
        self.lock = threading.RLock()
        self.types: dict[tuple[str, str], ResourceType] = {(t.group, t.plural): t for t in builtin_types()}
        self.objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self.rv = 1000
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.allocated_ips: set[str] = set()
        self.crd_established: dict[str, float] = {}
        self._next_ip = 10
        #: Deployments/StatefulSets/DaemonSets report their replicas available (a controller's work)
        self.workloads_available = False
        #: workload names that never become available, even with workloads_available
        self.never_available: set[str] = set()
        for name in ("default", "kube-system"):
            self.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # -- helpers for tests (state set-up without HTTP) ------------------------------------------
    def seed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object directly (bulk set-up for big tests); server fields are set as on create."""
        group, _, version = obj["apiVersion"].rpartition("/")
        rtype = self._type_for_kind(group, obj["kind"])
        with self.lock:
            return self._store_new(rtype, version, dict(obj))

    def get_object(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get((group, plural), {}).get((namespace or "", name))

    def count(self, group: str, plural: str, namespace: str | None = None) -> int:
        with self.lock:
            return sum(
                1 for (ns, _) in self.objects.get((group, plural), {}) if namespace is None or ns == namespace
            )

    def writes(self) -> list[RecordedRequest]:
        """The requests that could change state (anything but GET)."""
        with self.lock:
            return [r for r in self.requests if r.method != "GET"]

    def request_count(self) -> int:
        """How many requests arrived so far: a mark for ``write_counts(since=...)``."""
        with self.lock:
            return len(self.requests)

    def write_counts(self, since: int = 0, *, include_dry_run: bool = False) -> Counter[str]:
        """Write requests by verb (POST, PUT, PATCH, DELETE) from request number ``since`` on, answered
        or refused alike; ``dryRun=All`` ones (which change nothing) only with ``include_dry_run``."""
        with self.lock:
            recorded = self.requests[since:]
        return Counter(
            r.method
            for r in recorded
            if r.method in WRITE_VERBS and (include_dry_run or r.query.get("dryRun") != "All")
        )

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def _type_for_kind(self, group: str, kind: str) -> ResourceType:
        for rtype in self.types.values():
            if rtype.group == group and rtype.kind == kind:
                return rtype
        raise KeyError(f"{group}/{kind}")

    # -- request entry point --------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        record = RecordedRequest(method, path, query)
        with self.lock:
            self.requests.append(record)
        try:
            if headers.get("authorization") != f"Bearer {self.token}":
                raise _Error(401, "Unauthorized", "Unauthorized")
            parsed = orjson.loads(body) if body else None
            self._check_faults(method, path, parsed, query)
            status, payload = self._route(method, path, query, parsed)
            extra: dict[str, str] = {}
        except _Error as err:
            status, extra = err.status, err.headers
            payload = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": err.metadata,
                "status": "Failure",
                "message": err.message,
                "reason": err.reason,
                "details": err.details,
                "code": err.status,
            }
        except orjson.JSONDecodeError:
            status, extra = 400, {}
            payload = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "bad JSON",
                "code": 400,
            }
        record.status = status
        return status, {"Content-Type": "application/json", **extra}, orjson.dumps(payload)

    def _check_faults(self, method: str, path: str, body: Any, query: dict[str, str]) -> None:
        name = ((body or {}).get("metadata") or {}).get("name") if isinstance(body, dict) else None
        with self.lock:
            for fault in self.faults:
                if fault.applies(method, path, name, query):
                    fault.hits += 1
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    reason = fault.reason or {
                        429: "TooManyRequests",
                        500: "InternalError",
                        503: "ServiceUnavailable",
                    }.get(fault.status, "Failure")
                    raise _Error(
                        fault.status, reason, fault.message, headers=headers, metadata=fault.status_metadata
                    )

    # -- routing --------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if path == "/version" and method == "GET":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "platform": "linux/amd64"}
        if path == "/api" and method == "GET":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis" and method == "GET":
            return 200, self._group_list()
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _Error(404, "NotFound", "the server could not find the requested resource")
        if not self._serves(group, version):
            raise _Error(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            if method != "GET":
                raise _Error(405, "MethodNotAllowed", "method not allowed")
            return 200, self._resource_list(group, version)

        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        rtype = self._served_type(group, version, rest[0])
        if len(rest) > 3 or (len(rest) == 3):
            raise _Error(404, "NotFound", "subresources are not implemented by the fake")
        if rtype.namespaced is False and namespace is not None:
            raise _Error(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        dry_run = query.get("dryRun") == "All"
        with self.lock:
            if name is None and method == "GET":
                return 200, self._list(rtype, version, namespace, query)
            if name is None and method == "POST":
                if rtype.namespaced and namespace is None:
                    raise _Error(405, "MethodNotAllowed", "create needs a namespace in the path")
                return 201, self._create(rtype, version, namespace, body, dry_run)
            if name is not None and method == "GET":
                return 200, self._present(rtype, version, self._get(rtype, namespace, name))
            if name is not None and method == "PUT":
                return 200, self._replace(rtype, version, namespace, name, body, dry_run)
            if name is not None and method == "DELETE":
                return 200, self._delete(rtype, version, namespace, name)
        raise _Error(405, "MethodNotAllowed", f"{method} not allowed here")

    def _serves(self, group: str, version: str) -> bool:
        return any(
            t.group == group and version in t.versions and self._is_served(t) for t in self.types.values()
        )

    def _is_served(self, rtype: ResourceType) -> bool:
        return not rtype.custom or rtype.established_at <= time.time()

    def _served_type(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self.types.get((group, plural))
        if rtype is None or version not in rtype.versions or not self._is_served(rtype):
            raise _Error(404, "NotFound", "the server could not find the requested resource")
        return rtype

    def _group_list(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for rtype in self.types.values():
            if rtype.group and self._is_served(rtype):
                known = groups.setdefault(rtype.group, [])
                known.extend(v for v in rtype.versions if v not in known)
        out = []
        for name, versions in groups.items():
            preferred = self._preferred(name)
            ordered = [preferred] + [v for v in versions if v != preferred]
            out.append(
                {
                    "name": name,
                    "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered],
                    "preferredVersion": {"groupVersion": f"{name}/{preferred}", "version": preferred},
                }
            )
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}

    def _preferred(self, group: str) -> str:
        versions = {
            v for t in self.types.values() if t.group == group and self._is_served(t) for v in t.versions
        }
        return sorted(versions, key=version_priority)[0]

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources = []
        for rtype in self.types.values():
            if rtype.group != group or version not in rtype.versions or not self._is_served(rtype):
                continue
            resources.append(
                {
                    "name": rtype.plural,
                    "singularName": rtype.singular,
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": list(rtype.verbs),
                    **({"shortNames": list(rtype.short_names)} if rtype.short_names else {}),
                }
            )
            for sub in rtype.subresources:
                resources.append(
                    {
                        "name": f"{rtype.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": ["get", "update"],
                    }
                )
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    # -- verbs ----------------------------------------------------------------------------------
    def _list(
        self, rtype: ResourceType, version: str, namespace: str | None, query: dict[str, str]
    ) -> dict[str, Any]:
        try:
            requirements = parse_selector(query.get("labelSelector", ""))
        except ValueError as exc:
            raise _Error(400, "BadRequest", str(exc)) from None
        store = self.objects.get((rtype.group, rtype.plural), {})
        keys = sorted(k for k in store if namespace is None or k[0] == namespace)
        if query.get("continue"):
            try:
                start = tuple(orjson.loads(base64.urlsafe_b64decode(query["continue"])))
            except ValueError:
                raise _Error(400, "BadRequest", "continue key is not valid") from None
            keys = [k for k in keys if k > start]
        selected = [
            k for k in keys if matches(requirements, (store[k].get("metadata") or {}).get("labels") or {})
        ]
        limit = int(query.get("limit") or 0)
        page = selected[:limit] if limit else selected
        metadata: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if limit and len(selected) > limit:
            metadata["continue"] = base64.urlsafe_b64encode(orjson.dumps(list(page[-1]))).decode()
            if not requirements:
                metadata["remainingItemCount"] = len(selected) - limit
        items = [self._present(rtype, version, store[k], in_list=True) for k in page]
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version(version),
            "metadata": metadata,
            "items": items,
        }

    def _get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.objects.get((rtype.group, rtype.plural), {}).get((namespace or "", name))
        if obj is None:
            raise _Error(404, "NotFound", f'{rtype.qualified()} "{name}" not found', _details(rtype, name))
        return obj

    def _present(
        self, rtype: ResourceType, version: str, obj: dict[str, Any], in_list: bool = False
    ) -> dict[str, Any]:
        out = dict(obj)
        if in_list and not rtype.custom:
            out.pop("apiVersion", None)
            out.pop("kind", None)
        else:
            out["apiVersion"] = rtype.api_version(version)
            out["kind"] = rtype.kind
        if rtype.plural == "customresourcedefinitions":
            out["status"] = self._crd_status(obj)
        if rtype.plural in WORKLOAD_PLURALS and rtype.group == "apps" and self.workloads_available:
            out["status"] = self._workload_status(rtype.plural, obj)
        return out

    def _workload_status(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj.get("metadata") or {}
        generation = metadata.get("generation", 1)
        up = metadata.get("name") not in self.never_available
        if plural == "daemonsets":
            return {
                "observedGeneration": generation,
                "desiredNumberScheduled": 1,
                "currentNumberScheduled": 1,
                "numberReady": int(up),
                "numberAvailable": int(up),
            }
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        available = replicas if up else 0
        return {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
        }

    def _create(
        self, rtype: ResourceType, version: str, namespace: str | None, body: Any, dry_run: bool
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Error(400, "BadRequest", "the body of the request was in an unknown format")
        metadata = body.setdefault("metadata", {})
        if rtype.namespaced:
            if metadata.get("namespace") not in (None, "", namespace):
                raise _Error(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            metadata["namespace"] = namespace
            if ("", namespace) not in self.objects.get(("", "namespaces"), {}):
                raise _Error(
                    404,
                    "NotFound",
                    f'namespaces "{namespace}" not found',
                    {"name": namespace, "kind": "namespaces"},
                )
        if metadata.get("resourceVersion"):
            raise _Error(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if not metadata.get("name"):
            if metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise _Error(
                    422,
                    "Invalid",
                    f"{rtype.kind} is invalid: metadata.name: Required value: name or generateName is required",
                )
        name = metadata["name"]
        if (namespace or "", name) in self.objects.get((rtype.group, rtype.plural), {}):
            raise _Error(
                409, "AlreadyExists", f'{rtype.qualified()} "{name}" already exists', _details(rtype, name)
            )
        if rtype.plural == "customresourcedefinitions":
            self._validate_crd(body)
        if rtype.plural == "services":
            self._allocate_ip(body)
        if dry_run:
            return self._present(rtype, version, body)
        stored = self._store_new(rtype, version, body)
        if rtype.plural == "customresourcedefinitions":
            self._register_crd(stored)
        return self._present(rtype, version, stored)

    def _store_new(self, rtype: ResourceType, version: str, obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj.setdefault("metadata", {})
        self.rv += 1
        metadata["uid"] = str(uuid.uuid4())
        metadata["resourceVersion"] = str(self.rv)
        metadata["creationTimestamp"] = _now()
        metadata["generation"] = 1
        metadata["managedFields"] = [
            {
                "manager": "fake-kube",
                "operation": "Update",
                "apiVersion": rtype.api_version(version),
                "time": _now(),
            }
        ]
        if not rtype.namespaced:
            metadata.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = rtype.api_version(version), rtype.kind
        if rtype.plural in ("deployments", "replicasets", "statefulsets"):
            obj["status"] = {"observedGeneration": 1, "replicas": 0}
        if rtype.plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        key = (metadata.get("namespace") or "", metadata["name"])
        self.objects.setdefault((rtype.group, rtype.plural), {})[key] = obj
        return obj

    def _replace(
        self, rtype: ResourceType, version: str, namespace: str | None, name: str, body: Any, dry_run: bool
    ) -> dict[str, Any]:
        current = self._get(rtype, namespace, name)
        metadata = body.setdefault("metadata", {})
        if metadata.get("name") != name:
            raise _Error(400, "BadRequest", "the name of the object does not match the name on the URL")
        given = metadata.get("resourceVersion")
        if given and given != current["metadata"]["resourceVersion"]:
            raise _Error(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rtype.qualified()} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                _details(rtype, name),
            )
        if rtype.plural == "services":  # as Kubernetes 1.20 does: an allocated IP cannot be unset
            spec, old = body.setdefault("spec", {}), current.get("spec") or {}
            if old.get("clusterIP") and not spec.get("clusterIP"):
                raise _Error(
                    422,
                    "Invalid",
                    f'Service "{name}" is invalid: spec.clusterIPs[0]: Invalid value: []string(nil): '
                    "primary clusterIP can not be unset",
                )
        if dry_run:
            return self._present(rtype, version, body)
        self.rv += 1
        for keep in ("uid", "creationTimestamp", "managedFields"):
            metadata[keep] = current["metadata"][keep]
        metadata["resourceVersion"] = str(self.rv)
        metadata["generation"] = current["metadata"].get("generation", 1) + (
            body.get("spec") != current.get("spec")
        )
        if rtype.namespaced:
            metadata["namespace"] = namespace
        if "status" in current:
            body["status"] = current["status"]
        body["apiVersion"], body["kind"] = rtype.api_version(version), rtype.kind
        self.objects[(rtype.group, rtype.plural)][(namespace or "", name)] = body
        return self._present(rtype, version, body)

    def _delete(self, rtype: ResourceType, version: str, namespace: str | None, name: str) -> dict[str, Any]:
        self._get(rtype, namespace, name)
        obj = self.objects[(rtype.group, rtype.plural)].pop((namespace or "", name))
        if rtype.plural == "namespaces":
            for store in self.objects.values():
                for key in [k for k in store if k[0] == name]:
                    del store[key]
        if rtype.plural == "customresourcedefinitions":
            spec = obj.get("spec") or {}
            self.types.pop((spec.get("group"), (spec.get("names") or {}).get("plural")), None)
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": _details(rtype, name)}

    # -- kind-specific behaviour ----------------------------------------------------------------
    def _allocate_ip(self, body: dict[str, Any]) -> None:
        spec = body.setdefault("spec", {})
        ip = spec.get("clusterIP")
        if ip == "None":
            spec["clusterIPs"] = ["None"]
            return
        if ip:
            if ip in self.allocated_ips:
                raise _Error(
                    422,
                    "Invalid",
                    f'Service is invalid: spec.clusterIPs: Invalid value: ["{ip}"]: '
                    "failed to allocate IP: provided IP is already allocated",
                )
        else:
            self._next_ip += 1
            ip = f"10.96.{self._next_ip // 250}.{self._next_ip % 250 + 1}"
        self.allocated_ips.add(ip)
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]

    def _validate_crd(self, body: dict[str, Any]) -> None:
        spec = body.get("spec") or {}
        names = spec.get("names") or {}
        group, plural = spec.get("group"), names.get("plural")
        if not group or not plural or not names.get("kind") or not spec.get("versions"):
            raise _Error(422, "Invalid", "CustomResourceDefinition is invalid: spec: Required value")
        if body["metadata"]["name"] != f"{plural}.{group}":
            raise _Error(
                422,
                "Invalid",
                'CustomResourceDefinition is invalid: metadata.name: must be spec.names.plural+"."+spec.group',
            )

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        names = spec["names"]
        versions = [v["name"] for v in spec["versions"] if v.get("served", True)]
        self.crd_established[crd["metadata"]["name"]] = time.time() + self.crd_establish_delay
        self.types[(spec["group"], names["plural"])] = ResourceType(
            group=spec["group"],
            versions=versions,
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            custom=True,
            established_at=self.crd_established[crd["metadata"]["name"]],
            crd_name=crd["metadata"]["name"],
        )

    def _crd_status(self, crd: dict[str, Any]) -> dict[str, Any]:
        established = self.crd_established.get(crd["metadata"]["name"], 0) <= time.time()
        return {
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {
                    "type": "Established",
                    "status": "True" if established else "False",
                    "reason": "InitialNamesAccepted",
                },
            ],
            "acceptedNames": (crd.get("spec") or {}).get("names", {}),
            "storedVersions": [
                v["name"] for v in (crd.get("spec") or {}).get("versions", []) if v.get("storage")
            ],
        }


def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
    details = {"name": name, "kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    return details


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    fake: FakeKube

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, payload = self.server.fake.handle(self.command, self.path, headers, body)  # type: ignore[attr-defined]
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class FakeKubeServer:
    """``with FakeKubeServer() as kube: kube.kubeconfig`` is a kubeconfig for the official client."""

    def __init__(self, workdir: Path, *, crd_establish_delay: float = 0.0) -> None:
        self.token = f"fake-token-{uuid.uuid4().hex}"
        self.fake = FakeKube(self.token, crd_establish_delay=crd_establish_delay)
        self.workdir = workdir
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self.fake  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kube", daemon=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.kubeconfig = workdir / f"kubeconfig-{self._server.server_address[1]}.yaml"
        self.context = "fake"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            f"users:\n- name: fake-user\n  user:\n    token: {self.token}\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n"
            "current-context: fake\n"
        )

    def start(self) -> FakeKubeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeKubeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
