"""The slice rule: which ledger rows a new ingestion replaces, so re-ingesting never double counts.

A slice is what one ingestion speaks for. It is made of *cells*, one per
(provider_name, billing_account_id or '', billing_period_start) seen in the ingestion's rows, all under
the ingestion's `source` kind (focus, aws_cur, ...), optionally cut to a charge *window*:

- a file (FOCUS, CUR, Azure export) with no `period` speaks for the whole billing periods it contains,
  per provider and billing account: loading September's AWS file again replaces September of that AWS
  billing account from that source, and nothing else (October, other accounts, other providers stay);
- an ingestion with a `period` {start, end} (API sources always have one) speaks only for the charge days
  in [start, end) of those cells: loading Cost Explorer for 1-15 May, then for 16-31 May keeps both
  halves; loading 1-31 May afterwards replaces both. Rows a source returns outside the window are not
  loaded (a period given with a file loads just that part of the file).

When it succeeds, the rows of earlier succeeded ingestions of the same source that fall inside the new
slice are deleted in the same transaction that inserts the new rows (and likewise their rollup rows).
Rows from another source kind are never touched: loading the same bill as both FOCUS and CUR counts it
twice, by design, because the two are different views of the bill that a user chooses between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

Cell = tuple[str, str, datetime]  # (provider_name, billing_account_id or '', billing_period_start UTC)


def cell_of(row: dict[str, Any]) -> Cell:
    """The slice cell a ledger row belongs to."""
    return (row["provider_name"], row["billing_account_id"] or "", row["billing_period_start"])


def day_start(day: date) -> datetime:
    """Midnight UTC of a day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class LedgerSlice:
    """The cells an ingestion covers, and the charge window [start, end) when it was given a period."""

    source: str
    cells: frozenset[Cell]
    window: tuple[date, date] | None = None

    @property
    def window_start(self) -> datetime | None:
        return day_start(self.window[0]) if self.window else None

    @property
    def window_end(self) -> datetime | None:
        return day_start(self.window[1]) if self.window else None

    def overlaps(self, other: LedgerSlice) -> bool:
        """True when the two slices share a cell (the window is applied by the delete itself)."""
        return self.source == other.source and not self.cells.isdisjoint(other.cells)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
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
        )
