"""The metric names a PromQL expression reads (enough of PromQL for the rules and dashboards here: label
matchers, ranges, grouping clauses, strings and Grafana's `$variables` are set aside first)."""

from __future__ import annotations

import re

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or"}
KEYWORDS |= {"unless", "inf", "nan", "atan2"}
# series Prometheus makes itself, not a service
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def metric_names(expr: str) -> set[str]:
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"'(?:\\.|[^'\\])*'", "''", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names: set[str] = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # 1e3, 0.5m
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        if match.group(0).lower() in KEYWORDS:
            continue
        names.add(match.group(0))
    return names
