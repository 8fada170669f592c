"""The slice rule: which ledger rows a new ingestion replaces, so that the same bill never counts twice.

A slice is what one ingestion speaks for: its source kind (focus, aws_cur, ...), its *origin* (where the data
came from), its *members* (the files of a load of several files), the *cells* its rows fall in, one per
(provider_name, billing_account_id or '', billing_period_start), the charge days its rows *cover*, an
optional charge *window* (its `period`), and the *digest* of its rows (economist.ledger.identity: the same for
the same rows whatever the file's name, compression, format or row order).

Origins: a file is `name:<basename>` (of a local path, an upload's filename or an S3 key); several files
loaded as one (a folder, a manifest, a multipart upload of several files, an S3 prefix) are `files:<name>`
or `s3:<bucket>/<prefix>`; an API source is its scope (`aws_cost_explorer:<filter or *>`,
`azure_cost:<scope>`, `gcp_bigquery:<table>`, `cerebra:<url>`); `options.replace_key` makes it `key:<value>`.

An earlier succeeded ingestion of the same source kind that shares a cell with the new one is replaced:

1. *the same data again*, inside the new slice's cells (and window): when the origin is the same (the same
   file, scope or replace_key) or the rows' digest is (the same rows under any name, compression or format);
2. *a newer export of the same bill*, inside the new slice's cells and the charge days it covers (and its
   window): when both are file loads without a replace_key (focus, aws_cur, azure_export) and they are not
   parts of one export. So `focus.csv` then `focus.parquet` of a corrected bill replaces; a file of the
   second half of a month leaves the first half's file alone.

Parts of one export: files whose names number them alike (`part-00001.csv` and `part-00002.csv`,
`export-00001.csv.gz`, `part_0_0001.csv`, `costs-2024-09-01.csv`; the numbers are runs of digits after a
'-', '_' or '.', or after `part`; the rest of the name, without its extensions, is the export) add up when
they are loaded one by one, while one part again (same name, any extension) replaces itself. Loaded
together, parts are one load and a later load of the whole export replaces them all.

Nothing else is replaced: API scopes and replace_keys add up unless rule 1 applies, rows of another source
kind are never touched (the same bill as FOCUS and as CUR counts twice, by design: two views of it).
The replaced rows (and their rollup rows) are deleted in the transaction that inserts the new ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

Cell = tuple[str, str, datetime]  # (provider_name, billing_account_id or '', billing_period_start UTC)

#: the longest origin kept (a replace_key or a scope longer than this is refused or cut)
MAX_ORIGIN = 1000
#: source kinds that load billing files (rule 2 of the module docstring applies between their loads)
FILE_SOURCE_KINDS = frozenset({"focus", "aws_cur", "azure_export"})
_DATA_EXTENSIONS = (".gz", ".csv", ".parquet", ".snappy", ".zst", ".txt")
#: a part number: digits after the start, a separator or `part`, before the end or a separator
_PART_NUMBER = re.compile(r"(?:(?<=^)|(?<=[-_.])|(?<=part))(\d+)(?=$|[-_.])", re.IGNORECASE)


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
    """The origin of an ingestion request (see the module docstring). `options.files` lists the names of a
    load of several files (`options.path` then names their folder or manifest)."""
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
    elif kind == "cerebra":
        scope = str(options.get("url") or "").strip().rstrip("/")
    elif options.get("files"):
        where = options.get("path") or filename or "upload"
        return f"files:{base_name(str(where).rstrip('/'))}"[:MAX_ORIGIN]
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


def members_of(options: dict[str, Any], origin: str) -> tuple[str, ...]:
    """The file origins a load is made of: each of `options.files`, else the load's own origin."""
    files = options.get("files")
    if isinstance(files, list) and files:
        return tuple(sorted({f"name:{base_name(str(f))}"[:MAX_ORIGIN] for f in files}))
    return (origin,)


def part_of(origin: str) -> tuple[str, tuple[int, ...]] | None:
    """(export, part numbers) of a file origin whose name numbers it as a part, else None."""
    if not origin.startswith("name:"):
        return None
    stem = origin[len("name:") :]
    lowered = stem.lower()
    stripped = True
    while stripped:
        stripped = False
        for extension in _DATA_EXTENSIONS:
            if lowered.endswith(extension) and len(lowered) > len(extension):
                stem, lowered, stripped = stem[: -len(extension)], lowered[: -len(extension)], True
    numbers = tuple(int(m.group(1)) for m in _PART_NUMBER.finditer(stem))
    if not numbers:
        return None
    return _PART_NUMBER.sub("#", stem).lower(), numbers


def parts_of_one_export(new: tuple[str, ...], old: tuple[str, ...]) -> bool:
    """True when the files `new` are further parts of the export `old` was (some of): every new file is a
    numbered part of an export that `old` has parts of, and none is a part `old` already holds."""
    old_parts = {p for p in map(part_of, old) if p is not None}
    families = {family for family, _numbers in old_parts}
    for origin in new:
        part = part_of(origin)
        if part is None or part[0] not in families or part in old_parts:
            return False
    return True


@dataclass(frozen=True)
class LedgerSlice:
    """What an ingestion speaks for (module docstring): source kind, cells, window, origin, members, the
    charge days covered and the rows' digest."""

    source: str
    cells: frozenset[Cell]
    window: tuple[date, date] | None = None
    origin: str | None = None
    digest: str | None = None
    members: tuple[str, ...] = ()
    covered: tuple[date, date] | None = None

    @property
    def window_start(self) -> datetime | None:
        return day_start(self.window[0]) if self.window else None

    @property
    def window_end(self) -> datetime | None:
        return day_start(self.window[1]) if self.window else None

    @property
    def is_export(self) -> bool:
        """A file load without a replace_key (rule 2 applies to it)."""
        return self.source in FILE_SOURCE_KINDS and not (self.origin or "").startswith("key:")

    def replacement(self, earlier: LedgerSlice) -> str | None:
        """How this slice replaces `earlier`: "same" (rule 1: in the cells and window), "newer" (rule 2:
        also only the charge days covered), or None."""
        if self.source != earlier.source or self.cells.isdisjoint(earlier.cells):
            return None
        if (self.origin is not None and self.origin == earlier.origin) or (
            self.digest is not None and self.digest == earlier.digest
        ):
            return "same"
        if not (self.is_export and earlier.is_export):
            return None
        mine = self.members or ((self.origin,) if self.origin else ())
        theirs = earlier.members or ((earlier.origin,) if earlier.origin else ())
        if mine and theirs and parts_of_one_export(mine, theirs):
            return None
        return "newer"

    def replaced_days(self) -> tuple[date, date] | None:
        """The charge days rule 2 replaces: the days covered, inside the window when there is one."""
        if self.covered is None:
            return self.window
        if self.window is None:
            return self.covered
        start, end = max(self.covered[0], self.window[0]), min(self.covered[1], self.window[1])
        return (start, max(start, end))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "origin": self.origin,
            "members": list(self.members),
            "digest": self.digest,
            "cells": sorted([p, a, b.isoformat()] for p, a, b in self.cells),
            "window": [self.window[0].isoformat(), self.window[1].isoformat()] if self.window else None,
            "covered": [self.covered[0].isoformat(), self.covered[1].isoformat()] if self.covered else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerSlice:
        cells = frozenset(
            (p, a, datetime.fromisoformat(b).astimezone(UTC)) for p, a, b in data.get("cells", [])
        )

        def days(value: Any) -> tuple[date, date] | None:
            return (date.fromisoformat(value[0]), date.fromisoformat(value[1])) if value else None

        return cls(
            data["source"],
            cells,
            days(data.get("window")),
            data.get("origin"),
            data.get("digest"),
            tuple(data.get("members") or ()),
            days(data.get("covered")),
        )
