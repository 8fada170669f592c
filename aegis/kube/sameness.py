"""Is a live object already what a restore would write? Compares the stripped, desired object with it.

The rule is "the desired object is contained in the live one": every field the desired object sets
must have that value live (maps recursively, lists element by element and of the same length);
fields only the live object has are ignored. That is what makes the comparison robust against what a
real API server adds on create and never gives back the same way: defaults (a Deployment's strategy,
revisionHistoryLimit, progressDeadlineSeconds, a container's terminationMessagePath and
imagePullPolicy, a Service's sessionAffinity, ipFamilies and internalTrafficPolicy, a CRD's
conversion strategy), allocations (clusterIP, nodePort), controller annotations (PVC binding) and
server metadata (resourceVersion, uid, creationTimestamp, generation, managedFields), and status.
A field the desired object gives as null, ``{}`` or ``[]`` matches one that is absent live (the
server drops empty values).

Containment alone would miss a key someone added live to a map that no server or controller ever
fills: the entries of ``data``/``binaryData``/``stringData`` (ConfigMaps, Secrets) and of
``metadata.labels``. A replace removes such a key, so there those maps must be equal, key for key,
except for labels the restore itself stamps (``ignored_labels``: its backup and restore names, which
differ between two restores of the same thing) and ``kubernetes.io/metadata.name``, which the API
server sets on every namespace (under a namespace mapping the backed-up value is the old name).

Errs on the side of "changed": a value the server normalises (a quantity "0.5" read back as "500m")
costs one write that changes nothing, never a skipped update.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

#: Set by the API server on every namespace, to the namespace's own name.
SERVER_LABELS = frozenset({"kubernetes.io/metadata.name"})
#: Top-level maps that only users fill: a key found only live is a difference.
EXACT_TOP_LEVEL = frozenset({"data", "binaryData", "stringData"})
#: Metadata the server owns (stripped from desired objects anyway; ignored should one carry them).
SERVER_METADATA = frozenset(
    {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"}
)
_EMPTY: tuple[Any, ...] = (None, {}, [])


def first_difference(
    desired: dict[str, Any], live: dict[str, Any], ignored_labels: Collection[str] = ()
) -> str | None:
    """The path of the first field where ``live`` differs from ``desired`` (``data.color``,
    ``spec.template.spec.containers[0].image``), or None when writing ``desired`` would change nothing."""
    for key, want in desired.items():
        if key == "status":
            continue
        have = live.get(key)
        if key == "metadata":
            found = _metadata_difference(want or {}, have or {}, ignored_labels)
        elif key in EXACT_TOP_LEVEL:
            found = _exact_map_difference(want, have, key)
        else:
            found = _difference(want, have, key)
        if found is not None:
            return found
    for key in EXACT_TOP_LEVEL - desired.keys():
        if live.get(key) not in _EMPTY:
            return key
    return None


def _metadata_difference(want: dict[str, Any], have: dict[str, Any], ignored: Collection[str]) -> str | None:
    for key, value in want.items():
        if key in SERVER_METADATA:
            continue
        if key == "labels":
            found = _labels_difference(value or {}, have.get("labels") or {}, ignored)
        else:
            found = _difference(value, have.get(key), f"metadata.{key}")
        if found is not None:
            return found
    if "labels" not in want:
        return _labels_difference({}, have.get("labels") or {}, ignored)
    return None


def _labels_difference(want: dict[str, Any], have: dict[str, Any], ignored: Collection[str]) -> str | None:
    skip = SERVER_LABELS.union(ignored)
    for key in sorted((want.keys() | have.keys()) - skip):
        if want.get(key) != have.get(key):
            return f"metadata.labels.{key}"
    return None


def _exact_map_difference(want: Any, have: Any, path: str) -> str | None:
    if not isinstance(want, dict) or not isinstance(have, dict):
        return _difference(want, have, path)
    for key in sorted(want.keys() | have.keys()):
        if key not in want or key not in have or not _same_scalar(want[key], have[key]):
            return f"{path}.{key}"
    return None


def _difference(want: Any, have: Any, path: str) -> str | None:
    if have is None and want in _EMPTY:
        return None
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return path
        for key, value in want.items():
            found = _difference(value, have.get(key), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return path
        for index, (item, live_item) in enumerate(zip(want, have, strict=True)):
            found = _difference(item, live_item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return None if _same_scalar(want, have) else path


def _same_scalar(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    return bool(want == have)
