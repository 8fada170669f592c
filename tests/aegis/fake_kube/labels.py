"""Label selector matching for the fake API server (its own small implementation, not Aegis's)."""

from __future__ import annotations

import re


def _terms(selector: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t.strip() for t in terms if t.strip()]


def parse_selector(selector: str) -> list[tuple[str, str, set[str]]]:
    """[(key, op, values)], op in =, !=, in, notin, exists, !exists; raises ValueError."""
    out = []
    for term in _terms(selector or ""):
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            out.append((m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}))
        elif m := re.fullmatch(r"([\w./-]+)\s*(!=|==|=)\s*([\w.-]*)", term):
            out.append((m[1], "!=" if m[2] == "!=" else "=", {m[3]}))
        elif m := re.fullmatch(r"!\s*([\w./-]+)", term):
            out.append((m[1], "!exists", set()))
        elif m := re.fullmatch(r"([\w./-]+)", term):
            out.append((m[1], "exists", set()))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return out


def matches(requirements: list[tuple[str, str, set[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        has = key in labels
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op in ("=", "in") and (not has or labels[key] not in values):
            return False
        if op in ("!=", "notin") and has and labels[key] in values:
            return False
    return True
