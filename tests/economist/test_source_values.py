"""Value parsing shared by the adapters, the ledger column list, and tag normalization for grouping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from economist.ledger import (
    COLUMN_NAMES,
    FOCUS_TO_LEDGER,
    LEDGER_COLUMNS,
    REQUIRED_COLUMNS,
    TagNormalizer,
    empty_row,
)
from economist.sources import SourceRowError
from economist.sources.values import canonical_enum, to_datetime, to_decimal, to_str, to_tags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.50", Decimal("1.50")),
        ("  2 ", Decimal(2)),
        ("1.5E-3", Decimal("0.0015")),
        ("-2.60E-9", Decimal("-2.6E-9")),
        ("0.00000080000", Decimal("0.0000008")),
        ("NULL", None),
        (" null ", None),
        ("", None),
        ("NaN", None),
        (None, None),
        (0.1, Decimal("0.1")),  # a Parquet double: its shortest repr, not 0.1000000000000000055...
        (7, Decimal(7)),
        (Decimal("3.25"), Decimal("3.25")),
    ],
)
def test_to_decimal(text, expected) -> None:
    assert to_decimal(text) == expected


@pytest.mark.parametrize("text", ["1,50", "$1", "1_000", "Infinity", "-inf", "twelve", True, float("inf")])
def test_to_decimal_rejects(text) -> None:
    with pytest.raises(ValueError):
        to_decimal(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-01T00:00:00Z", datetime(2024, 9, 1, tzinfo=UTC)),
        ("2024-09-01T02:00:00+02:00", datetime(2024, 9, 1, tzinfo=UTC)),
        ("2024-09-01 00:00:00", datetime(2024, 9, 1, tzinfo=UTC)),
        ("2024-09-01", datetime(2024, 9, 1, tzinfo=UTC)),
        ("2024-09-01T00:00:00.000Z", datetime(2024, 9, 1, tzinfo=UTC)),
        ("2024-09-01 00:00:00 UTC", datetime(2024, 9, 1, tzinfo=UTC)),
        (date(2024, 9, 1), datetime(2024, 9, 1, tzinfo=UTC)),
        (datetime(2024, 9, 1), datetime(2024, 9, 1, tzinfo=UTC)),
        ("NULL", None),
    ],
)
def test_to_datetime(text, expected) -> None:
    value = to_datetime(text)
    assert value == expected
    assert value is None or value.tzinfo is UTC


@pytest.mark.parametrize("text", ["09/01/2024", "2024-13-01", "yesterday"])
def test_to_datetime_rejects(text) -> None:
    with pytest.raises(ValueError):
        to_datetime(text)


def test_text_tags_and_enums() -> None:
    assert to_str("  EC2 ") == "EC2" and to_str("NULL") is None and to_str("") is None
    assert to_tags('{"a": "b", "n": 1.50, "flag": true, "none": null}') == {
        "a": "b",
        "n": "1.50",
        "flag": "true",
        "none": "",
    }
    assert to_tags([("k", "v")]) == {"k": "v"} and to_tags([{"key": "k", "value": "v"}]) == {"k": "v"}
    assert to_tags("NULL") == {} and to_tags("") == {}
    with pytest.raises(ValueError):
        to_tags("[1, 2]")
    assert canonical_enum("charge_frequency", "Usage-based") == "Usage-Based"
    assert canonical_enum("charge_frequency", "usagebased") == "Usage-Based"
    assert canonical_enum("charge_category", "USAGE") == "Usage"
    assert canonical_enum("commitment_discount_status", "used") == "Used"
    assert canonical_enum("charge_category", "Something New") == "Something New"
    assert canonical_enum("service_name", "usage") == "usage"


def test_ledger_columns() -> None:
    assert len(set(COLUMN_NAMES)) == len(COLUMN_NAMES)
    assert len({c.focus_name for c in LEDGER_COLUMNS}) == len(LEDGER_COLUMNS)
    assert FOCUS_TO_LEDGER["BilledCost"] == "billed_cost"
    assert set(REQUIRED_COLUMNS) == {
        "billed_cost",
        "effective_cost",
        "billing_currency",
        "billing_period_start",
        "billing_period_end",
        "charge_period_start",
        "charge_period_end",
        "provider_name",
        "charge_category",
    }
    row = empty_row()
    assert set(row) == set(COLUMN_NAMES) and row["tags"] == {}
    name, focus_name, kind, required = LEDGER_COLUMNS[0]  # a plain 4-tuple
    assert (name, focus_name, kind, required) == ("billed_cost", "BilledCost", "money", True)


def test_source_row_error_text() -> None:
    err = SourceRowError("bill.csv", 12, "BilledCost", "not a number: 'x'")
    assert str(err) == "bill.csv:12: column BilledCost: not a number: 'x'"
    assert (err.file, err.line, err.column, err.message) == (
        "bill.csv",
        12,
        "BilledCost",
        "not a number: 'x'",
    )


def test_tag_normalizer() -> None:
    raw = {"Cost-Center": "A", "cost_center": "B", "Env ": " prod ", "team": "Web"}
    assert TagNormalizer().normalize(raw) == {"cost_center": "A", "env": "prod", "team": "Web"}
    assert raw["Cost-Center"] == "A"  # raw tags untouched
    assert TagNormalizer(case_fold=False).normalize(raw) == {
        "Cost_Center": "A",
        "Env": "prod",
        "cost_center": "B",
        "team": "Web",
    }
    assert TagNormalizer(fold_separators=False).key("Cost-Center") == "cost-center"
    assert TagNormalizer(strip_camel=True).key("CostCenter") == "cost_center"
    assert TagNormalizer(fold_values=True).normalize({"team": "Web"}) == {"team": "web"}
    # the result does not depend on the order the source listed the tags in
    assert TagNormalizer().normalize(dict(reversed(list(raw.items())))) == TagNormalizer().normalize(raw)
    assert TagNormalizer().normalize(None) == {}
