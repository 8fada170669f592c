"""The FOCUS-shaped ledger: its columns and the tag normalization used for grouping."""

from economist.ledger.columns import (
    COLUMN_NAMES,
    COLUMNS_BY_NAME,
    FOCUS_ALIASES,
    FOCUS_TO_LEDGER,
    LEDGER_COLUMNS,
    REQUIRED_COLUMNS,
    ColumnKind,
    LedgerColumn,
    empty_row,
)
from economist.ledger.tags import DEFAULT_TAG_NORMALIZER, TagNormalizer

__all__ = [
    "COLUMNS_BY_NAME",
    "COLUMN_NAMES",
    "DEFAULT_TAG_NORMALIZER",
    "FOCUS_ALIASES",
    "FOCUS_TO_LEDGER",
    "LEDGER_COLUMNS",
    "REQUIRED_COLUMNS",
    "ColumnKind",
    "LedgerColumn",
    "TagNormalizer",
    "empty_row",
]
