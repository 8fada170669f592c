"""AWS CUR 2.0 / Data Exports files (CSV, CSV.gz, Parquet; local, upload or S3) as ledger rows.

Amortization (effective_cost) follows AWS's own amortized-cost rule (the one Cost Explorer's "amortized" view
and the Cloud Intelligence Dashboards use), by `line_item_line_item_type`:

| line item type            | effective_cost                                                            |
|---------------------------|---------------------------------------------------------------------------|
| SavingsPlanCoveredUsage   | savings_plan_savings_plan_effective_cost                                  |
| SavingsPlanRecurringFee   | savings_plan_total_commitment_to_date - savings_plan_used_commitment      |
|                           | (only the unused part; the used part is in the covered usage)             |
| SavingsPlanNegation       | 0 (it cancels the on-demand cost of covered usage in the billed view)     |
| SavingsPlanUpfrontFee     | 0 (amortized into covered usage)                                          |
| DiscountedUsage           | reservation_effective_cost                                                |
| RIFee                     | reservation_unused_amortized_upfront_fee_for_billing_period               |
|                           |   + reservation_unused_recurring_fee (only the unused part)               |
| Fee with a reservation ARN| 0 (an RI upfront fee, amortized into discounted usage)                    |
| anything else             | line_item_unblended_cost                                                  |

A component column that is absent or null counts as 0. billed_cost is always line_item_unblended_cost.
RecurringFee/RIFee rows carry commitment_discount_status "Unused" (their effective cost is exactly the
unused commitment); covered/discounted usage carries "Used". Charge categories: Tax -> Tax, Credit and
discounts -> Credit, Refund -> Adjustment, fees -> Purchase, usage kinds -> Usage. Legacy CUR headers
(`lineItem/UnblendedCost`, `resourceTags/user:Team`) are read too. Tag keys lose their `user_`/`user:` prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from economist.ledger.columns import empty_row
from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch, SourceRowError
from economist.sources.rows import RecordView, batch_rows, index_header
from economist.sources.s3files import S3FileSource
from economist.sources.tabular import PathOrFile, TabularReader
from economist.sources.values import month_bounds

ZERO = Decimal(0)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_TAG_COLUMN = "resource_tags"
_LEGACY_TAG_PREFIX = "resourcetags/"

REQUIRED = (
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_unblended_cost",
    "line_item_line_item_type",
    "line_item_currency_code",
)

_USAGE_TYPES = {"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation"}
_PURCHASE_TYPES = {"Fee", "RIFee", "SavingsPlanUpfrontFee", "SavingsPlanRecurringFee"}
_CREDIT_TYPES = {
    "Credit",
    "EdpDiscount",
    "BundledDiscount",
    "PrivateRateDiscount",
    "SppDiscount",
    "DistributorDiscount",
    "Discount",
}
_FREQUENCY = {
    "Usage": "Usage-Based",
    "DiscountedUsage": "Usage-Based",
    "SavingsPlanCoveredUsage": "Usage-Based",
    "SavingsPlanNegation": "Usage-Based",
    "RIFee": "Recurring",
    "SavingsPlanRecurringFee": "Recurring",
    "Fee": "One-Time",
    "SavingsPlanUpfrontFee": "One-Time",
}


def cur_column_name(raw: str) -> str:
    """CUR 2.0 snake_case name for a CUR 2.0 or legacy CUR header ('lineItem/UnblendedCost' too)."""
    name = raw.lstrip("\ufeff").strip()
    if "/" not in name:
        return name.lower()
    group, field = name.split("/", 1)
    if group.lower() == "resourcetags":
        return _LEGACY_TAG_PREFIX + field
    return f"{_CAMEL.sub('_', group)}_{_CAMEL.sub('_', field)}".lower()


def charge_category(line_item_type: str) -> str:
    """The FOCUS ChargeCategory of a CUR line item type."""
    if line_item_type == "Tax":
        return "Tax"
    if line_item_type in _CREDIT_TYPES:
        return "Credit"
    if line_item_type == "Refund":
        return "Adjustment"
    if line_item_type in _PURCHASE_TYPES:
        return "Purchase"
    return "Usage"


def _tag_key(key: str) -> str:
    for prefix in ("user_", "user:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _amount(rec: RecordView, name: str) -> Decimal:
    value = rec.money(name)
    return ZERO if value is None else value


def effective_cost(rec: RecordView, line_item_type: str, unblended: Decimal) -> Decimal:
    """The amortized cost of one CUR line (see the module docstring for the rule)."""
    if line_item_type == "SavingsPlanCoveredUsage":
        return _amount(rec, "savings_plan_savings_plan_effective_cost")
    if line_item_type == "SavingsPlanRecurringFee":
        return _amount(rec, "savings_plan_total_commitment_to_date") - _amount(
            rec, "savings_plan_used_commitment"
        )
    if line_item_type in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return ZERO
    if line_item_type == "DiscountedUsage":
        return _amount(rec, "reservation_effective_cost")
    if line_item_type == "RIFee":
        return _amount(rec, "reservation_unused_amortized_upfront_fee_for_billing_period") + _amount(
            rec, "reservation_unused_recurring_fee"
        )
    if line_item_type == "Fee" and rec.text("reservation_reservation_a_r_n"):
        return ZERO
    return unblended


def _commitment(rec: RecordView, row: dict[str, Any], line_item_type: str) -> None:
    if line_item_type.startswith("SavingsPlan"):
        row["commitment_discount_id"] = rec.text("savings_plan_savings_plan_a_r_n")
        row["commitment_discount_type"] = "Savings Plan"
        row["commitment_discount_category"] = "Spend"
    elif line_item_type in ("DiscountedUsage", "RIFee"):
        row["commitment_discount_id"] = rec.text("reservation_reservation_a_r_n")
        row["commitment_discount_type"] = "Reserved Instance"
        row["commitment_discount_category"] = "Usage"
    else:
        return
    if line_item_type in ("SavingsPlanCoveredUsage", "DiscountedUsage"):
        row["commitment_discount_status"] = "Used"
        row["pricing_category"] = "Committed"
    elif line_item_type in ("SavingsPlanRecurringFee", "RIFee"):
        row["commitment_discount_status"] = "Unused"


def _tags(rec: RecordView, legacy_tag_columns: list[tuple[str, str]]) -> dict[str, str]:
    tags = {_tag_key(k): v for k, v in rec.tags(_TAG_COLUMN).items()} if rec.has(_TAG_COLUMN) else {}
    for column, key in legacy_tag_columns:
        value = rec.text(column)
        if value is not None:
            tags[_tag_key(key)] = value
    return tags


def cur_row(rec: RecordView, legacy_tag_columns: list[tuple[str, str]]) -> dict[str, Any]:
    """One ledger row from one CUR record."""
    row = empty_row()
    line_item_type = rec.text("line_item_line_item_type", required=True) or ""
    unblended = rec.money("line_item_unblended_cost", required=True)
    start = rec.when("line_item_usage_start_date", required=True)
    row["billed_cost"] = unblended
    row["effective_cost"] = effective_cost(rec, line_item_type, unblended)
    row["list_cost"] = rec.money("pricing_public_on_demand_cost")
    net = rec.money("line_item_net_unblended_cost")
    row["contracted_cost"] = unblended if net is None else net
    row["list_unit_price"] = rec.money("pricing_public_on_demand_rate")
    row["billing_currency"] = rec.currency("line_item_currency_code", required=True)
    row["charge_period_start"] = start
    row["charge_period_end"] = rec.when("line_item_usage_end_date", required=True)
    month_start, month_end = month_bounds(start)
    row["billing_period_start"] = rec.when("bill_billing_period_start_date") or month_start
    row["billing_period_end"] = rec.when("bill_billing_period_end_date") or month_end
    row["billing_account_id"] = rec.text("bill_payer_account_id")
    row["billing_account_name"] = rec.text("bill_payer_account_name")
    row["sub_account_id"] = rec.text("line_item_usage_account_id")
    row["sub_account_name"] = rec.text("line_item_usage_account_name")
    row["invoice_id"] = rec.text("bill_invoice_id")
    row["invoice_issuer_name"] = rec.text("bill_invoicing_entity") or "Amazon Web Services, Inc."
    row["provider_name"] = "AWS"
    row["publisher_name"] = rec.text("line_item_legal_entity") or "Amazon Web Services, Inc."
    row["charge_category"] = charge_category(line_item_type)
    row["charge_frequency"] = _FREQUENCY.get(line_item_type)
    row["charge_description"] = rec.text("line_item_line_item_description")
    row["service_name"] = rec.first_text("product_servicecode", "line_item_product_code")
    row["region_id"] = rec.first_text("product_region_code", "product_region")
    row["region_name"] = rec.text("product_location")
    row["availability_zone"] = rec.text("line_item_availability_zone")
    row["resource_id"] = rec.text("line_item_resource_id")
    row["sku_id"] = rec.text("product_sku")
    row["sku_price_id"] = rec.text("pricing_rate_id")
    row["pricing_quantity"] = rec.money("line_item_usage_amount")
    row["pricing_unit"] = rec.text("pricing_unit")
    if line_item_type in _USAGE_TYPES and line_item_type != "SavingsPlanNegation":
        row["consumed_quantity"] = row["pricing_quantity"]
        row["consumed_unit"] = row["pricing_unit"]
    if line_item_type == "Usage":
        term = (rec.text("pricing_term") or "").lower()
        row["pricing_category"] = "Dynamic" if term == "spot" else "Standard" if term else None
    _commitment(rec, row, line_item_type)
    row["tags"] = _tags(rec, legacy_tag_columns)
    return row


def cur_rows(reader: TabularReader) -> Iterator[dict[str, Any]]:
    """Ledger rows from an opened CUR file."""
    index, spelled = index_header(reader.header, cur_column_name)
    for name in REQUIRED:
        if name not in index:
            raise SourceRowError(reader.name, 1, name, "required column is missing from the header")
    legacy_tags = [
        (name, name[len(_LEGACY_TAG_PREFIX) :]) for name in index if name.startswith(_LEGACY_TAG_PREFIX)
    ]
    rec = RecordView(index, spelled, reader.name)
    for line, values in reader.records():
        rec.line = line
        rec.values = values
        yield cur_row(rec, legacy_tags)


class AwsCurSource:
    """A CUR 2.0 (or legacy CUR) file as a BillingSource."""

    name = "aws_cur"

    def __init__(self, path_or_fileobj: PathOrFile, *, filename: str | None = None) -> None:
        self._source = path_or_fileobj
        self._filename = filename

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        with TabularReader(self._source, filename=self._filename) as reader:
            yield from batch_rows(cur_rows(reader), reader.progress, batch_size)

    @classmethod
    def from_s3(cls, bucket: str, key: str, *, s3_client: Any) -> S3FileSource:
        """CUR data in S3: one object, or every data file under a key ending in '/'."""
        return S3FileSource(
            cls.name, bucket, key, s3_client=s3_client, factory=lambda path, shown: cls(path, filename=shown)
        )
