"""The slice rule: which ledger rows a new ingestion replaces, so re-ingesting never double counts.

A slice is what one ingestion speaks for: its source kind (focus, aws_cur, ...), its *origin* (where the
data came from), the *cells* its rows fall in, one per (provider_name, billing_account_id or '',
billing_period_start), and optionally a charge *window*.

The origin is what makes two loads "the same data again" rather than "more data":

- a file: its name (`name:<basename>` of a local path, an upload's filename or an S3 key; for an S3 key
  prefix, which loads every file under it at once, `s3:<bucket>/<prefix>`), so the parts of a split
  export (part-00001.csv, part-00002.csv, per-subscription exports) add up, while the same file again,
  from any of the three, or a corrected re-export under the same name, replaces the earlier load;
- an API source: the request's scope (`aws_cost_explorer:<filter or *>`, `azure_cost:<scope>`,
  `gcp_bigquery:<table>`), so querying subscription B never wipes subscription A; the grouping and cost
  options do not belong to the origin (the same scope again, grouped otherwise, replaces);
- `options.replace_key` (any string) overrides the origin (`key:<value>`) for callers that want explicit
  control, e.g. two folders holding same-named part files of different subscriptions.

A file ingestion also records the SHA-256 of its content (local files and uploads; S3 objects are not
read twice to hash them): an earlier load with identical content is replaced whatever its origin, so
renaming a file and loading it again does not double it.

An earlier succeeded ingestion of the same source kind is replaced when its origin equals the new one's or
its content digest does, and then only inside the new slice: in its cells, and with a window, only the
charge days in [start, end):

- a file with no `period` speaks for the whole billing periods it contains, per provider and billing
  account: loading September's part-00001.csv again replaces September of that account from that file,
  and nothing else (October, other accounts, providers and files stay);
- an ingestion with a `period` {start, end} (API sources always have one) speaks only for the charge days
  in [start, end) of its cells: loading Cost Explorer for 1-15 May, then for 16-31 May keeps both halves;
  loading 1-31 May afterwards replaces both. Rows a source returns outside the window are not loaded.

The replaced rows (and their rollup rows) are deleted in the transaction that inserts the new ones. Rows
from another source kind are never touched: loading the same bill as both FOCUS and CUR counts it twice,
by design, because the two are different views of the bill that a user chooses between.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath, PureWindowsPath
from typing import IO, Any

Cell = tuple[str, str, datetime]  # (provider_name, billing_account_id or '', billing_period_start UTC)

#: the longest origin kept (a replace_key or a scope longer than this is refused or cut)
MAX_ORIGIN = 1000
_DIGEST_CHUNK = 1 << 20


def day_start(day: date) -> datetime:
    """Midnight UTC of a day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def covered_days(first_start: datetime | None, last_end: datetime | None) -> tuple[date, date] | None:
    """The charge days [start, end) a load's rows cover: the day of the earliest ChargePeriodStart up to the
    day after the last ChargePeriodEnd (its own day when the end is midnight UTC); None without rows."""
    if first_start is None or last_end is None:
        return None
    start = first_start.astimezone(UTC).date()
    last = last_end.astimezone(UTC)
    end = last.date() if last.time() == time.min else last.date() + timedelta(days=1)
    return start, max(end, start + timedelta(days=1))


def base_name(name: str) -> str:
    """The last component of a path or file name, POSIX or Windows style."""
    return PureWindowsPath(PurePosixPath(name).name).name or name


def origin_of(kind: str, options: dict[str, Any], filename: str | None = None) -> str:
    """The origin of an ingestion request (see the module docstring)."""
    key = options.get("replace_key")
    if isinstance(key, str) and key:
        return f"key:{key}"[:MAX_ORIGIN]
    if kind == "aws_cost_explorer":
        found = options.get("filter")
        scope = json.dumps(found, sort_keys=True, separators=(",", ":")) if found else "*"
    elif kind == "azure_cost":
        scope = str(options.get("scope") or "").strip().rstrip("/").lower()  # Azure ids ignore case
    elif kind == "gcp_bigquery":
        scope = str(options.get("table") or "").strip().strip("`")
    elif options.get("path"):
        return f"name:{base_name(str(options['path']))}"[:MAX_ORIGIN]
    elif options.get("bucket") and options.get("key"):
        key = str(options["key"])
        if key.endswith("/"):  # a prefix: every data file under it, one ingestion
            return f"s3:{options['bucket']}/{key}"[:MAX_ORIGIN]
        return f"name:{base_name(key)}"[:MAX_ORIGIN]
    else:
        return f"name:{base_name(filename or '')}"[:MAX_ORIGIN]
    return f"{kind}:{scope}"[:MAX_ORIGIN]


def digest_stream(stream: IO[bytes]) -> str:
    """SHA-256 (hex) of a seekable binary stream from its current position; the position is restored."""
    start = stream.tell()
    digest = hashlib.sha256()
    try:
        while chunk := stream.read(_DIGEST_CHUNK):
            digest.update(chunk)
    finally:
        stream.seek(start)
    return digest.hexdigest()


def digest_file(path: str) -> str:
    """SHA-256 (hex) of a file's content (`~` expanded)."""
    with open(os.path.expanduser(path), "rb") as handle:
        return digest_stream(handle)


@dataclass(frozen=True)
class LedgerSlice:
    """The cells an ingestion covers, where its data came from, and the charge window [start, end) when it
    was given a period."""

    source: str
    cells: frozenset[Cell]
    window: tuple[date, date] | None = None
    origin: str | None = None
    content_sha256: str | None = None

    @property
    def window_start(self) -> datetime | None:
        return day_start(self.window[0]) if self.window else None

    @property
    def window_end(self) -> datetime | None:
        return day_start(self.window[1]) if self.window else None

    def same_data(self, other: LedgerSlice) -> bool:
        """True when `other` is an earlier load of the same data: same origin, or identical content."""
        return self.source == other.source and (
            (self.origin is not None and self.origin == other.origin)
            or (self.content_sha256 is not None and self.content_sha256 == other.content_sha256)
        )

    def overlaps(self, other: LedgerSlice) -> bool:
        """True when this slice replaces part of `other`: same data, sharing a cell (the window is applied
        by the delete itself)."""
        return self.same_data(other) and not self.cells.isdisjoint(other.cells)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "origin": self.origin,
            "content_sha256": self.content_sha256,
            "cells": sorted([p, a, b.isoformat()] for p, a, b in self.cells),
            "window": [self.window[0].isoformat(), self.window[1].isoformat()] if self.window else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerSlice:
        cells = frozenset(
            (p, a, datetime.fromisoformat(b).astimezone(UTC)) for p, a, b in data.get("cells", [])
        )
        window = data.get("window")
        return cls(
            data["source"],
            cells,
            (date.fromisoformat(window[0]), date.fromisoformat(window[1])) if window else None,
            data.get("origin"),
            data.get("content_sha256"),
        )
