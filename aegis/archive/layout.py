"""Velero's archive layout: entry paths for objects and the metadata files, both ways.

``resources/<resource>[.<group>]/namespaces/<ns>/<name>.json``, ``resources/<resource>[.<group>]/cluster/<name>.json``,
``metadata/version`` (content ``1``) and our ``metadata.json``, written last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMAT_VERSION = "1"
VERSION_PATH = "metadata/version"
METADATA_PATH = "metadata.json"
_UNSAFE = re.compile(r"[/\\\x00-\x1f]")


class LayoutError(ValueError):
    """A name that cannot be stored safely as a path segment."""


@dataclass(frozen=True)
class ArchiveEntry:
    """One object in an archive, known from its path alone."""

    resource: str  # plural, e.g. "deployments"
    group: str  # "" for the core group
    namespace: str | None  # None for cluster-scoped
    name: str
    path: str

    @property
    def qualified_resource(self) -> str:
        return resource_dir(self.resource, self.group)


def resource_dir(resource: str, group: str) -> str:
    """``configmaps`` for the core group, ``deployments.apps`` otherwise."""
    return f"{resource}.{group}" if group else resource


def split_resource_dir(directory: str) -> tuple[str, str]:
    resource, _, group = directory.partition(".")
    return resource, group


def object_path(resource: str, group: str, namespace: str | None, name: str) -> str:
    for segment in (resource, group or "x", namespace or "x", name):
        if not segment or segment in (".", "..") or _UNSAFE.search(segment):
            raise LayoutError(f"unsafe name for an archive path: {segment!r}")
    scope = f"namespaces/{namespace}" if namespace else "cluster"
    return f"resources/{resource_dir(resource, group)}/{scope}/{name}.json"


def parse_object_path(path: str) -> ArchiveEntry | None:
    """The entry an object path stands for; None for metadata and anything unrecognised.

    Also reads Velero's versioned layout (``.../v1-preferredversion/...``); entries under other,
    non-preferred version folders are ignored since the preferred copy is the one to restore.
    """
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "resources" or not parts[-1].endswith(".json"):
        return None
    directory, rest = parts[1], parts[2:]
    if rest[0] not in ("namespaces", "cluster"):
        if not rest[0].endswith("-preferredversion"):
            return None
        rest = rest[1:]
    resource, group = split_resource_dir(directory)
    if len(rest) == 2 and rest[0] == "cluster":
        return ArchiveEntry(resource, group, None, rest[1][: -len(".json")], path)
    if len(rest) == 3 and rest[0] == "namespaces":
        return ArchiveEntry(resource, group, rest[1], rest[2][: -len(".json")], path)
    return None
