"""Kubernetes label selectors, namespace wildcards and resource patterns (``deployments.apps``), pure logic.

Shared by backup selection and restore planning; no I/O.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


class SelectorError(ValueError):
    """A label selector that does not parse."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key, as the API server does.
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{next(iter(self.values))}"
        return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed selector such as ``app=web,tier in (a,b),!legacy``; empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_requirement(part) for part in _split_top_level(text)))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def and_(self, other: LabelSelector) -> LabelSelector:
        return LabelSelector(self.requirements + other.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __str__(self) -> str:
        """The canonical form the API server accepts as ``labelSelector``."""
        return ",".join(str(req) for req in self.requirements)


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if depth != 0:
        raise SelectorError(f"unbalanced parentheses in label selector {text!r}")
    return [part for part in parts if part.strip()]


def _parse_requirement(part: str) -> Requirement:
    if match := _SET_RE.match(part):
        values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
        if not values or not all(_VALUE_RE.match(v) for v in values):
            raise SelectorError(f"bad value list in label selector term {part.strip()!r}")
        return Requirement(match["key"], match["op"], values)
    if match := _EQ_RE.match(part):
        op = "=" if match["op"] in ("=", "==") else "!="
        return Requirement(match["key"], op, frozenset({match["value"]}))
    if match := _EXISTS_RE.match(part):
        return Requirement(match["key"], "!" if match["neg"] else "exists")
    raise SelectorError(f"cannot parse label selector term {part.strip()!r}")


def wildcard_match(value: str, patterns: Iterable[str]) -> bool:
    """True when ``value`` matches any glob pattern (``*``, ``?``, ``[ab]``), case-sensitive."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(frozen=True)
class ResourceNames:
    """The names a resource answers to in include/exclude lists."""

    resource: str
    group: str
    kind: str = ""
    singular: str = ""
    short_names: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


def resource_matches(names: ResourceNames, pattern: str) -> bool:
    """Match ``*``, ``configmaps``, ``deployments.apps``, ``Deployment``, ``deploy``, ``*.example.com``.

    A pattern without a group matches that resource in any group (``events`` matches core and
    events.k8s.io); a pattern with a group (text after the first dot) must match the group too.
    """
    pattern = pattern.strip().lower()
    if not pattern:
        return False
    if pattern == "*" or fnmatch.fnmatchcase(names.qualified.lower(), pattern):
        return True
    candidates = {names.resource.lower(), names.kind.lower(), names.singular.lower()}
    candidates.update(s.lower() for s in names.short_names)
    candidates.discard("")
    name, dot, group = pattern.partition(".")
    if dot and not fnmatch.fnmatchcase(names.group.lower(), group):
        return False
    return any(fnmatch.fnmatchcase(candidate, name) for candidate in candidates)


def resource_selected(names: ResourceNames, included: Iterable[str], excluded: Iterable[str]) -> bool:
    """Included by any include pattern (empty list means all) and by no exclude pattern."""
    included = list(included) or ["*"]
    if any(resource_matches(names, p) for p in excluded):
        return False
    return any(resource_matches(names, p) for p in included)


def namespace_selected(namespace: str, included: Iterable[str], excluded: Iterable[str]) -> bool:
    """Included by a wildcard (empty include list means all) and not excluded by one."""
    included = list(included) or ["*"]
    return wildcard_match(namespace, included) and not wildcard_match(namespace, excluded)
