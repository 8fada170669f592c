"""Restores that transform: resource modifier rules (match by resource, namespace, name and labels, then a
JSON Patch, RFC 6902, or a JSON merge patch, RFC 7386) and ``storage_class_mapping``. Pure logic, no I/O.

Rules see each object as it was backed up (source namespace, its labels, ``status`` still present), after
the restore's filters chose it and before aegis strips what the cluster owns and maps namespaces. The
mapping runs first, then every rule in order; a rule whose patch does not apply fails that object (it is
not restored, the failure names the rule and why), as Velero does, and stops the rules after it.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from aegis.kube.selectors import LabelSelector, ResourceNames, SelectorError, resource_matches, wildcard_match
from aegis.kube.transport import split_api_version

RULES_FIELD = "resource_modifiers"
MAPPING_FIELD = "storage_class_mapping"
MAX_RULES = 100
MAX_OPERATIONS = 500
MAX_PATTERNS = 200
MAX_REGEX = 1000
NAME_MAX = 253
OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE = ("add", "replace", "test")
_NEEDS_FROM = ("move", "copy")
_RULE_KEYS = frozenset(
    {"resources", "namespaces", "names", "name_regex", "label_selector", "json_patch", "merge_patch"}
)
_BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


class ModifierError(ValueError):
    """A rule or mapping that cannot run; ``field`` names it (``resource_modifiers[1].name_regex``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PatchFailed(Exception):
    """A rule's patch does not apply to one object; the message is safe to show (it echoes no values)."""


def rule_label(index: int) -> str:
    return f"{RULES_FIELD}[{index}]"


# -- validation: one checker per field, shared by the request schema and compile_modifiers() ---------------


def check_resources(patterns: Sequence[str]) -> list[str]:
    """Resource patterns as in ``included_resources`` (``deployments.apps``, ``deploy``, ``*.example.com``),
    also written ``group/resource`` (``apps/deployments``; ``core/`` or a bare ``/`` for the core group)."""
    _check_patterns(patterns, "resource pattern")
    return [_normal_resource_pattern(p) for p in patterns]


def _normal_resource_pattern(pattern: str) -> str:
    text = pattern.strip()
    if "/" not in text:
        return text
    group, _, resource = text.partition("/")
    if not resource or "/" in resource:
        raise ValueError(f"{pattern!r} is neither resource.group nor group/resource")
    return f"{resource}." if group in ("", "core") else f"{resource}.{group}"  # "pods.": the core group only


def check_globs(patterns: Sequence[str], what: str) -> list[str]:
    _check_patterns(patterns, what)
    return list(patterns)


def _check_patterns(patterns: Sequence[str], what: str) -> None:
    if not patterns:
        raise ValueError(f"give at least one {what} (leave the field out to match any)")
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > NAME_MAX:
            raise ValueError(
                f"{what} {pattern!r} must be a non-empty string of at most {NAME_MAX} characters"
            )


def check_regex(text: str) -> re.Pattern[str]:
    if len(text) > MAX_REGEX:
        raise ValueError(f"at most {MAX_REGEX} characters")
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def check_selector(text: str) -> LabelSelector:
    try:
        return LabelSelector.parse(text)
    except SelectorError as exc:
        raise ValueError(str(exc)) from None


def check_json_patch(operations: Sequence[Any]) -> list[dict[str, Any]]:
    """RFC 6902 structure: each operation an object with a known ``op``, a valid JSON Pointer ``path``,
    ``value`` for add/replace/test, a valid ``from`` for move/copy (move never into its own child)."""
    if not isinstance(operations, list) or not operations:
        raise ValueError("a JSON Patch is a non-empty list of operations")
    if len(operations) > MAX_OPERATIONS:
        raise ValueError(f"at most {MAX_OPERATIONS} operations")
    for i, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise ValueError(f"operation {i} is not an object")
        op = operation.get("op")
        if op not in OPERATIONS:
            raise ValueError(f"operation {i}: op {op!r} is not one of {', '.join(OPERATIONS)}")
        path = _pointer(operation, "path", i)
        if op in _NEEDS_VALUE and "value" not in operation:
            raise ValueError(f"operation {i} ({op}): 'value' is required")
        if op in _NEEDS_FROM:
            source = _pointer(operation, "from", i)
            if op == "move" and path.startswith(source + "/"):
                raise ValueError(f"operation {i} (move): cannot move {source} into its own child {path}")
    return list(operations)


def _pointer(operation: Mapping[str, Any], key: str, index: int) -> str:
    value = operation.get(key)
    if not isinstance(value, str):
        raise ValueError(f"operation {index} ({operation.get('op')}): {key!r} must be a JSON Pointer string")
    try:
        jsonpointer.JsonPointer(value)
    except jsonpointer.JsonPointerException as exc:
        raise ValueError(f"operation {index} ({operation.get('op')}): {key} {value!r}: {exc}") from None
    return value


def check_merge_patch(patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict) or not patch:
        raise ValueError("a merge patch is a non-empty JSON object")
    return patch


def check_storage_class_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    for old, new in mapping.items():
        for value in (old, new):
            if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
                raise ValueError(f"storage class names must be non-empty, at most {NAME_MAX} characters")
    return dict(mapping)


# -- compiled rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModifierRule:
    """One compiled rule; ``None`` conditions match anything (``namespaces`` given: namespaced objects only)."""

    index: int
    resources: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None
    name_regex: re.Pattern[str] | None = None
    selector: LabelSelector = field(default_factory=LabelSelector)
    json_patch: tuple[dict[str, Any], ...] | None = None
    merge_patch: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return rule_label(self.index)

    def matches(self, names: ResourceNames, namespace: str | None, name: str, obj: Mapping[str, Any]) -> bool:
        if not any(resource_matches(names, pattern) for pattern in self.resources):
            return False
        if self.namespaces is not None and (
            namespace is None or not wildcard_match(namespace, self.namespaces)
        ):
            return False
        if self.names is not None and not wildcard_match(name, self.names):
            return False
        if self.name_regex is not None and not self.name_regex.search(name):
            return False
        return self.selector.matches((obj.get("metadata") or {}).get("labels"))

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The patched object (``obj`` may be modified); raises PatchFailed."""
        before = _identity(obj)
        if self.merge_patch is not None:
            patched = merge_patch(obj, self.merge_patch)
        else:
            patched = _apply_json_patch(obj, self.json_patch or ())
        if not isinstance(patched, dict):
            raise PatchFailed("the patch replaced the object with something that is not an object")
        after = _identity(patched)
        for what, old, new in zip(
            ("kind", "API group", "metadata.name", "metadata.namespace"), before, after, strict=True
        ):
            if old != new:
                raise PatchFailed(
                    f"the patch changes {what}; a modifier cannot turn an object into another one"
                    " (namespace_mapping renames namespaces)"
                )
        return patched


def _identity(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    group, _ = split_api_version(str(obj.get("apiVersion") or ""))
    return obj.get("kind"), group, metadata.get("name"), metadata.get("namespace")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch): null deletes a member, objects merge, anything else replaces.
    Values come from a copy of the patch, so no two objects share a list or dict."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def _apply_json_patch(obj: dict[str, Any], operations: Iterable[dict[str, Any]]) -> Any:
    doc: Any = obj
    for i, operation in enumerate(operations):
        try:
            doc = jsonpatch.JsonPatch([copy.deepcopy(operation)]).apply(doc, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, LookupError, TypeError):
            raise PatchFailed(
                f"operation {i} ({operation['op']} {operation['path']}): {_why(doc, operation)}"
            ) from None
    return doc


def _why(doc: Any, operation: Mapping[str, Any]) -> str:
    """Why an operation did not apply, in words that never quote the object's values (secrets)."""
    op, path = operation["op"], operation["path"]
    must_exist = [operation["from"]] if op in _NEEDS_FROM else []
    if op in ("remove", "replace", "test"):
        must_exist.append(path)
    elif path:
        must_exist.append(path.rsplit("/", 1)[0])  # add/move/copy: the parent must exist
    for pointer in must_exist:
        missing = _first_missing(doc, pointer)
        if missing is not None:
            return f"{missing} does not exist"
    if op == "test":
        return f"the value at {path} is not the tested value"
    return "the target cannot take it (an array index out of range, or not an object or array)"


def _first_missing(doc: Any, pointer: str) -> str | None:
    """The shortest prefix of ``pointer`` with no value in ``doc`` (``/metadata/annotations`` for
    ``/metadata/annotations/x`` when there are no annotations), or None when it resolves."""
    parts = jsonpointer.JsonPointer(pointer).parts
    for depth in range(1, len(parts) + 1):
        prefix = jsonpointer.JsonPointer.from_parts(parts[:depth])
        try:
            prefix.resolve(doc)
        except jsonpointer.JsonPointerException:
            return prefix.path
    return None


# -- the set of a restore's modifiers ----------------------------------------------------------------------


@dataclass
class ModifierResult:
    """What the modifiers did to one object: the rules that applied, or the rule that failed and why."""

    obj: dict[str, Any]
    applied: list[str] = field(default_factory=list)
    failed_rule: str | None = None
    reason: str = ""

    @property
    def error(self) -> dict[str, str] | None:
        return {"rule": self.failed_rule, "reason": self.reason} if self.failed_rule else None


class Modifiers:
    """A restore's compiled rules and storage class mapping, with counts of what each matched. Planning is
    single-threaded, so the counters need no lock."""

    def __init__(self, rules: Sequence[ModifierRule], storage_class_mapping: Mapping[str, str]) -> None:
        self.rules = tuple(rules)
        self.storage_class_mapping = dict(storage_class_mapping)
        self.matched: Counter[str] = Counter()
        self.classes_mapped: Counter[str] = Counter()

    def __bool__(self) -> bool:
        return bool(self.rules or self.storage_class_mapping)

    def apply(
        self, names: ResourceNames, namespace: str | None, name: str, obj: dict[str, Any]
    ) -> ModifierResult:
        """Run the mapping, then each matching rule in order, on ``obj`` (source namespace and name)."""
        result = ModifierResult(obj)
        if self.storage_class_mapping and self._map_storage_classes(names, obj):
            result.applied.append(MAPPING_FIELD)
        for rule in self.rules:
            if not rule.matches(names, namespace, name, result.obj):
                continue
            self.matched[rule.label] += 1
            try:
                result.obj = rule.apply(result.obj)
            except PatchFailed as exc:
                result.failed_rule, result.reason = rule.label, str(exc)
                return result
            result.applied.append(rule.label)
        return result

    def _map_storage_classes(self, names: ResourceNames, obj: dict[str, Any]) -> bool:
        key = (names.resource, names.group)
        targets: list[dict[str, Any]] = []
        if key in (("persistentvolumeclaims", ""), ("persistentvolumes", "")):
            targets.append(obj)
        elif key == ("statefulsets", "apps"):
            templates = (obj.get("spec") or {}).get("volumeClaimTemplates") or []
            targets.extend(t for t in templates if isinstance(t, dict))
        changed = False
        for target in targets:
            spec = target.get("spec")
            if isinstance(spec, dict):
                changed |= self._rename(spec, "storageClassName")
            annotations = (target.get("metadata") or {}).get("annotations")
            if isinstance(annotations, dict):
                changed |= self._rename(annotations, _BETA_CLASS_ANNOTATION)
        return changed

    def _rename(self, holder: dict[str, Any], key: str) -> bool:
        old = holder.get(key)
        if not isinstance(old, str) or old not in self.storage_class_mapping:
            return False
        holder[key] = self.storage_class_mapping[old]
        self.classes_mapped[old] += 1
        return True

    def unused(self) -> list[str]:
        """Warnings for rules that matched no object and mapped classes no object used."""
        warnings = [f"{rule.label} matched no object" for rule in self.rules if not self.matched[rule.label]]
        warnings += [
            f"{MAPPING_FIELD}: no object uses storage class {old!r}"
            for old in self.storage_class_mapping
            if not self.classes_mapped[old]
        ]
        return warnings


def compile_modifiers(
    rules: Sequence[Any] | None, storage_class_mapping: Mapping[str, str] | None
) -> Modifiers:
    """Validate and compile; raises ModifierError naming the rule index and field."""
    rules = list(rules or [])
    if len(rules) > MAX_RULES:
        raise ModifierError(RULES_FIELD, f"at most {MAX_RULES} rules")
    try:
        mapping = check_storage_class_mapping(dict(storage_class_mapping or {}))
    except (ValueError, TypeError) as exc:
        raise ModifierError(MAPPING_FIELD, str(exc)) from None
    return Modifiers([_compile_rule(i, rule) for i, rule in enumerate(rules)], mapping)


def _compile_rule(index: int, rule: Any) -> ModifierRule:
    label = rule_label(index)
    if not isinstance(rule, Mapping):
        raise ModifierError(label, "a rule is an object")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise ModifierError(f"{label}.{unknown[0]}", "unknown field")
    values = {k: v for k, v in rule.items() if v is not None}
    has_json, has_merge = "json_patch" in values, "merge_patch" in values
    if has_json == has_merge:
        raise ModifierError(label, "give exactly one of json_patch or merge_patch")

    def checked(key: str, check: Any, *args: Any) -> Any:
        if key not in values:
            return None
        try:
            return check(values[key], *args)
        except (ValueError, TypeError) as exc:
            raise ModifierError(f"{label}.{key}", str(exc)) from None

    resources = checked("resources", check_resources)
    namespaces = checked("namespaces", check_globs, "namespace pattern")
    names = checked("names", check_globs, "name pattern")
    json_ops = checked("json_patch", check_json_patch)
    return ModifierRule(
        index=index,
        resources=tuple(resources) if resources is not None else ("*",),
        namespaces=tuple(namespaces) if namespaces is not None else None,
        names=tuple(names) if names is not None else None,
        name_regex=checked("name_regex", check_regex),
        selector=checked("label_selector", check_selector) or LabelSelector(),
        json_patch=tuple(json_ops) if json_ops is not None else None,
        merge_patch=checked("merge_patch", check_merge_patch),
    )


# -- the report of a finished restore, from its spec and per-item results ----------------------------------


def modifier_report(spec: Mapping[str, Any], items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per rule (and for the mapping): objects it matched, applied to, failed on. Empty without modifiers."""
    labels = [rule_label(i) for i in range(len(spec.get(RULES_FIELD) or []))]
    if spec.get(MAPPING_FIELD):
        labels.insert(0, MAPPING_FIELD)
    if not labels:
        return []
    applied: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for item in items:
        applied.update(item.get("modified_by") or ())
        error = item.get("modifier_error")
        if error:
            failed[error.get("rule")] += 1
    return [
        {
            "rule": label,
            "matched": applied[label] + failed[label],
            "applied": applied[label],
            "failed": failed[label],
        }
        for label in labels
    ]
