"""One backup run: discover, list page by page, stream into an archive file, upload; and reading a
backup's contents back.

Threading model (restores' too): everything is synchronous (the official kubernetes client is), so run
each call in a worker thread (``await asyncio.to_thread(run_backup, ...)``). ``run_backup`` lists with
one background thread reading a page or two ahead (aegis.kube.readahead); ``run_restore`` starts its
own bounded thread pool for the API calls within a tier. ``progress_cb`` is only ever called from the
calling thread, at most every 0.25 s plus once at the end, and must be cheap; from asyncio, hand the
value over with ``loop.call_soon_threadsafe``. Set ``cancel`` (a threading.Event) to stop a run: it ends
as Failed with error "interrupted", uploads nothing and leaves no temporary files. Run failures come
back as ``phase=Failed`` with ``error``; only bugs raise.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aegis.archive.crypto import Keys
from aegis.archive.keys import DEFAULT_KEY_ID
from aegis.archive.reader import ArchiveReader, copy_verified
from aegis.archive.writer import ArchiveWriter
from aegis.backups.outcomes import BackupContents, BackupOutcome, ContentItem
from aegis.backups.phase import Phase
from aegis.backups.progress import (
    Cancelled,
    Fatal,
    ItemError,
    ProgressCallback,
    ProgressThrottle,
    now,
    os_error,
)
from aegis.backups.select import CRDS, NAMESPACES, PERSISTENT_VOLUMES, PVCS, BackupSelector, crd_name
from aegis.backups.spec import BackupSpec
from aegis.kube.connection import ClusterConnection
from aegis.kube.discovery import APIResource, discover
from aegis.kube.lister import list_pages
from aegis.kube.readahead import JobFailed, ListJob, ReadAhead
from aegis.kube.transport import KubeAPIError, KubeTransport, RetryPolicy
from aegis.storage.base import StorageBackend, StorageError


def default_backup_key(name: str) -> str:
    """Velero's object layout: ``backups/<name>/<name>.tar.gz``."""
    return f"backups/{name}/{name}.tar.gz"


def run_backup(
    cluster: ClusterConnection,
    spec: BackupSpec,
    storage: StorageBackend,
    key: str,
    progress_cb: ProgressCallback | None = None,
    encryption_key: bytes | None = None,
    *,
    key_id: str = DEFAULT_KEY_ID,
    require_encryption: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
    cancel: threading.Event | None = None,
    retry: RetryPolicy | None = None,
) -> BackupOutcome:
    """Back up what ``spec`` selects into ``storage`` under ``key``; never raises for run failures.

    ``encryption_key`` is the raw 32-byte key (see ``aegis.archive.crypto.parse_key``), ``key_id`` its id,
    named in the archive's header. With ``require_encryption`` a missing key fails the run before
    anything is read (fail closed).
    """
    outcome = BackupOutcome(
        phase=Phase.IN_PROGRESS,
        key=key,
        started_at=now(),
        encrypted=encryption_key is not None,
        encryption_key_id=key_id if encryption_key is not None else None,
    )
    run = _BackupRun(cluster.transport(retry), spec, outcome, ProgressThrottle(progress_cb), cancel)
    fd, tmp_name = tempfile.mkstemp(prefix="aegis-backup-", suffix=".tar.gz", dir=work_dir)
    os.close(fd)
    try:
        if require_encryption and encryption_key is None:
            raise Fatal(
                "encryption is required but no encryption key is configured; refusing an unencrypted backup"
            )
        try:
            spec.validate()
        except ValueError as exc:
            raise Fatal(f"invalid backup spec: {exc}") from None
        with ArchiveWriter(tmp_name, encryption_key=encryption_key, key_id=key_id) as writer:
            run.collect(writer)
            info = writer.close(run.metadata())
        outcome.size_bytes, outcome.sha256 = info.size_bytes, info.sha256
        run.progress(force=True, detail="uploading")
        try:
            stored = storage.put_file(tmp_name, key, sha256=info.sha256)
        except StorageError as exc:
            raise Fatal(f"upload failed: {exc}") from None
        outcome.retain_until = stored.retain_until
        outcome.phase = Phase.PARTIALLY_FAILED if outcome.errors else Phase.COMPLETED
    except Cancelled:
        outcome.phase, outcome.error = Phase.FAILED, "interrupted"
    except Fatal as exc:
        outcome.phase, outcome.error = Phase.FAILED, str(exc)
    except OSError as exc:  # the temporary archive could not be written (disk full, ...)
        outcome.phase, outcome.error = Phase.FAILED, f"cannot write the archive: {os_error(exc)}"
    finally:
        Path(tmp_name).unlink(missing_ok=True)
        outcome.finished_at = now()
    if outcome.phase is Phase.FAILED:
        outcome.size_bytes, outcome.sha256 = 0, ""
    outcome.items_total = max(outcome.items_total, outcome.items_done)
    run.progress(force=True, detail=str(outcome.phase))
    return outcome


class _BackupRun:
    def __init__(
        self,
        transport: KubeTransport,
        spec: BackupSpec,
        outcome: BackupOutcome,
        throttle: ProgressThrottle,
        cancel: threading.Event | None,
    ) -> None:
        self.transport = transport
        self.spec = spec
        self.selector = BackupSelector(spec)
        self.outcome = outcome
        self.throttle = throttle
        self.cancel = cancel
        self.counts: Counter[str] = Counter()
        self.resources: dict[str, dict[str, Any]] = {}
        self.namespaces: list[str] = []
        self.needed_pvs: set[str] = set()
        self.crd_candidates: set[str] = set()  # "<plural>.<group>" of saved objects that may be custom
        self.written: dict[tuple[str, str], set[str]] = {CRDS: set(), PERSISTENT_VOLUMES: set()}

    def progress(self, *, force: bool = False, detail: str = "") -> None:
        self.throttle(self.outcome.items_done, self.outcome.items_total, detail, force=force)

    def collect(self, writer: ArchiveWriter) -> None:
        try:
            self.outcome.server_version = (
                str(self.transport.get_json("/version").get("gitVersion") or "") or None
            )
            discovery = discover(self.transport)
        except KubeAPIError as exc:
            raise Fatal(f"cluster not reachable: {exc}") from None
        self.outcome.warnings.extend(discovery.errors)
        self.outcome.api_versions = sorted(discovery.served_versions)
        preferred = [r for r in discovery.preferred() if self.selector.backupable(r)]
        namespaces_resource = next((r for r in preferred if (r.resource, r.group) == NAMESPACES), None)
        if namespaces_resource is None:
            raise Fatal("the cluster does not serve namespaces")

        selected_ns: set[str] = set()
        write_ns = self.selector.includes_namespace_objects(namespaces_resource)
        try:
            for page in list_pages(self.transport, namespaces_resource, page_size=self.spec.page_size):
                for obj in page.items:
                    name = obj["metadata"]["name"]
                    if not self.selector.namespace_selected(name):
                        continue
                    selected_ns.add(name)
                    if write_ns and self.selector.object_selected(obj, use_label_selector=False):
                        self._write(writer, namespaces_resource, obj)
        except KubeAPIError as exc:
            raise Fatal(f"cannot list namespaces: {exc}") from None
        self.namespaces = sorted(selected_ns)

        # Every list of the run, in order, read ahead by one background thread (see ReadAhead).
        cluster_wide = lists_cluster_wide(self.spec, self.namespaces)
        namespaced = _Filter(allowed_ns=selected_ns)
        jobs: list[ListJob] = []
        for resource in self.selector.namespaced_resources(preferred):
            if cluster_wide:  # one list across all namespaces, split per namespace when dense or forbidden
                jobs.append(self._job(resource, None, namespaced, fallback=tuple(self.namespaces)))
            else:
                jobs.extend(self._job(resource, ns, namespaced) for ns in self.namespaces)
        jobs.extend(self._job(r, None, _Filter()) for r in self.selector.cluster_resources(preferred))
        self._list_and_write(writer, jobs)
        if self.selector.adds_needed_cluster_objects():
            self._add_needed(writer, preferred)

    def _add_needed(self, writer: ArchiveWriter, preferred: list[APIResource]) -> None:
        """``auto``: the CRDs of custom resources that had objects and the PVs bound to saved PVCs."""
        by_key = {(r.resource, r.group): r for r in preferred}
        crds = by_key.get(CRDS)
        if crds is not None and self.selector.resource_not_excluded(crds):
            for name in sorted(self.crd_candidates - {crd_name(*CRDS)} - self.written[CRDS]):
                self._backup_one(writer, crds, name)
        pvs = by_key.get(PERSISTENT_VOLUMES)
        missing_pvs = self.needed_pvs - self.written[PERSISTENT_VOLUMES]
        if pvs is not None and missing_pvs and self.selector.resource_not_excluded(pvs):
            only = _Filter(names=missing_pvs, labels=False)
            self._list_and_write(writer, [self._job(pvs, None, only)])

    def _job(
        self,
        resource: APIResource,
        namespace: str | None,
        only: _Filter,
        *,
        fallback: tuple[str, ...] | None = None,
    ) -> ListJob:
        page_size = (
            min(self.spec.page_size, 50)
            if (resource.resource, resource.group) == CRDS
            else self.spec.page_size
        )
        return ListJob(
            resource,
            namespace,
            label_selector=self.selector.server_label_selector if only.labels else None,
            page_size=page_size,
            split_namespaces=fallback,
            tag=only,
        )

    def _list_and_write(self, writer: ArchiveWriter, jobs: list[ListJob]) -> None:
        """Write the selected objects of ``jobs``' pages, one page at a time and in order; a failed
        list is reported (item and reason) and the run goes on."""
        with ReadAhead(self.transport, jobs) as events:
            for event in events:
                job = event.job
                resource, only = job.resource, job.tag
                if isinstance(event, JobFailed):
                    item = f"{resource.qualified_name} in {job.where}"
                    self.outcome.errors.append(ItemError(item=item, reason=str(event.error)))
                    continue
                for obj in event.page.items:
                    metadata = obj.get("metadata") or {}
                    if only.allowed_ns is not None and metadata.get("namespace") not in only.allowed_ns:
                        continue
                    if only.names is not None and metadata.get("name") not in only.names:
                        continue
                    if not self.selector.object_selected(obj, use_label_selector=only.labels):
                        continue
                    self._write(writer, resource, obj)
                remaining = event.page.remaining_item_count or 0
                self.outcome.items_total = max(self.outcome.items_total, self.outcome.items_done + remaining)
                self.progress(detail=f"{resource.qualified_name} ({job.where})")
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled

    def _backup_one(self, writer: ArchiveWriter, resource: APIResource, name: str) -> None:
        """GET one cluster-scoped object by name; a 404 means there is none (not an error)."""
        try:
            response = self.transport.request("GET", resource.path(name=name))
        except KubeAPIError as exc:
            self.outcome.errors.append(ItemError(item=f"{resource.qualified_name}/{name}", reason=str(exc)))
            return
        if response.status == 404:
            return
        if not response.ok:
            error = KubeAPIError.from_response(response)
            self.outcome.errors.append(ItemError(item=f"{resource.qualified_name}/{name}", reason=str(error)))
            return
        obj = response.json()
        if self.selector.object_selected(obj, use_label_selector=False):
            self._write(writer, resource, obj)

    def _write(self, writer: ArchiveWriter, resource: APIResource, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or ""
        namespace = metadata.get("namespace") if resource.namespaced else None
        try:
            writer.add_object(resource.resource, resource.group, namespace, name, obj)
        except ValueError as exc:
            self.outcome.errors.append(ItemError(item=f"{resource.qualified_name}/{name}", reason=str(exc)))
            return
        qualified = resource.qualified_name
        if (resource.resource, resource.group) in self.written:  # CRDs and PVs: auto may add them again
            self.written[(resource.resource, resource.group)].add(name)
        self.counts[qualified] += 1
        self.outcome.items_done += 1
        self.outcome.items_total = max(self.outcome.items_total, self.outcome.items_done)
        if qualified not in self.resources:
            self.resources[qualified] = {
                "group": resource.group,
                "version": resource.version,
                "kind": resource.kind,
                "namespaced": resource.namespaced,
            }
        if (resource.resource, resource.group) == PVCS:
            volume = (obj.get("spec") or {}).get("volumeName")
            if volume:
                self.needed_pvs.add(volume)
        elif "." in resource.group:  # a CRD's group always has a dot; built-ins are told apart by a GET
            self.crd_candidates.add(crd_name(resource.resource, resource.group))

    def metadata(self) -> dict[str, Any]:
        self.outcome.counts = dict(sorted(self.counts.items()))
        resources = {k: {**v, "count": self.counts[k]} for k, v in sorted(self.resources.items())}
        return {
            "format_version": "1",
            "name": self.spec.name,
            "cluster": self.spec.cluster,
            "spec": self.spec.to_dict(),
            "server_version": self.outcome.server_version,
            "api_versions": self.outcome.api_versions,
            "started_at": self.outcome.started_at.isoformat(),
            "finished_at": now().isoformat(),
            "namespaces": self.namespaces,
            "counts": self.outcome.counts,
            "items_total": self.outcome.items_done,
            "resources": resources,
            "errors": [asdict(e) for e in self.outcome.errors],
            "warnings": list(self.outcome.warnings),
            "encrypted": self.outcome.encrypted,
        }


#: Up to this many selected namespaces (and no "*") are listed one by one; more are listed with one
#: cluster-wide list per resource type, filtered here. Each namespace costs one list call per resource
#: type (about 40 on a bare cluster), so 20 namespaces meant ~800 calls where 40 do.
FEW_NAMESPACES = 3


def lists_cluster_wide(spec: BackupSpec, selected_namespaces: Collection[str]) -> bool:
    """Whether namespaced resources are listed once across all namespaces (and filtered client-side)
    rather than once per selected namespace.

    Cluster-wide when every namespace is wanted (``*``) or more than :data:`FEW_NAMESPACES` are
    selected (named or matched by wildcards and exclusions). Per namespace otherwise: with a few, a
    handful of small calls is cheaper than reading every namespace's objects to drop most of them.
    """
    if "*" in spec.included_namespaces:
        return True
    return len(selected_namespaces) > FEW_NAMESPACES


@dataclass(frozen=True)
class _Filter:
    """Which listed objects a job keeps (the exclusion label always applies)."""

    allowed_ns: set[str] | None = None  # namespaces selected (cluster-wide lists of namespaced types)
    names: set[str] | None = None
    labels: bool = True  # apply the spec's label selector (server-side and here)


def list_backup_contents(
    storage: StorageBackend,
    key: str,
    expected_sha256: str,
    encryption_key: Keys | None = None,
    *,
    work_dir: str | os.PathLike[str] | None = None,
) -> BackupContents:
    """What a backup holds (resource, group, kind, namespace, name) from the archive index.

    Verifies the checksum first. Raises ArchiveIntegrityError (altered/truncated/wrong key),
    ObjectNotFoundError or StorageError. Kinds come from metadata.json's resource table.
    """
    with tempfile.TemporaryDirectory(prefix="aegis-contents-", dir=work_dir) as tmp:
        archive = Path(tmp) / "archive"
        with storage.open_read(key) as source:
            copy_verified(source, archive, expected_sha256)
        contents = ArchiveReader(archive, encryption_key).contents()
    kinds = {
        name: str(info.get("kind") or "") for name, info in (contents.metadata.get("resources") or {}).items()
    }
    items = [
        ContentItem(e.resource, e.group, kinds.get(e.qualified_resource, ""), e.namespace, e.name)
        for e in contents.entries
    ]
    return BackupContents(items=items, metadata=contents.metadata)
