"""Azure Cost Management export files (EA, MCA, pay-as-you-go; actual or amortized) as ledger rows.

Header variants are matched case/space-insensitively: Date|UsageDate|UsageDateTime, CostInBillingCurrency|
PreTaxCost|Cost, BillingCurrencyCode|BillingCurrency|Currency, MeterCategory|ServiceName, ResourceId|InstanceId,
SubscriptionId|SubscriptionGuid, Tags as a JSON object or the legacy brace-less `"k": "v","k2": "v2"`.
Dates `MM/DD/YYYY` (Azure's export format) or ISO 8601. A FOCUS header (a FocusCost export) goes through the
FOCUS parser instead.

One export is either actual or amortized cost, so the other metric is derived (the FinOps toolkit's rule):
- actual: billed = cost; effective = cost, except commitment purchases (ChargeType Purchase with PricingModel
  Reservation/SavingsPlan), whose effective cost is 0 (it is spread over usage in the amortized view);
- amortized: effective = cost; billed = cost, except commitment-covered usage and unused commitment rows
  (UnusedReservation/UnusedSavingsPlan), whose billed cost is 0 (the purchase was billed instead).
Which one a file is: the `cost_type` argument, else "amortized" in the file name, else actual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from economist.ledger.columns import empty_row
from economist.sources.azure_cost import AZURE_CHARGE_CATEGORIES
from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch, SourceRowError
from economist.sources.focus import focus_rows, looks_like_focus
from economist.sources.rows import RecordView, batch_rows, fold_name, index_header
from economist.sources.tabular import PathOrFile, TabularReader
from economist.sources.values import ONE_DAY, month_bounds, to_datetime, to_tags

CostType = Literal["ActualCost", "AmortizedCost"]
ZERO = Decimal(0)

DATE = ("date", "usagedate", "usagedatetime")
COST = ("costinbillingcurrency", "pretaxcost", "cost")
CURRENCY = ("billingcurrencycode", "billingcurrency", "currency")
_DISPLAY = {
    "date": "Date",
    "usagedate": "UsageDate",
    "usagedatetime": "UsageDateTime",
    "costinbillingcurrency": "CostInBillingCurrency",
    "pretaxcost": "PreTaxCost",
    "cost": "Cost",
    "billingcurrencycode": "BillingCurrencyCode",
    "billingcurrency": "BillingCurrency",
    "currency": "Currency",
}
_COMMITMENT_MODELS = {"reservation", "savingsplan"}
_PRICING_CATEGORY = {
    "ondemand": "Standard",
    "spot": "Dynamic",
    "reservation": "Committed",
    "savingsplan": "Committed",
}
_FREQUENCY = {"usagebased": "Usage-Based", "recurring": "Recurring", "onetime": "One-Time"}


def parse_azure_date(value: Any) -> datetime | None:
    """An export date: MM/DD/YYYY (optionally with a time), or ISO 8601; UTC."""
    if isinstance(value, str) and "/" in value:
        text = value.strip()
        for pattern in ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"):
            try:
                return datetime.strptime(text, pattern).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise ValueError(f"not a date (MM/DD/YYYY or ISO 8601): {text[:40]!r}")
    return to_datetime(value)


def parse_azure_tags(value: Any) -> dict[str, str]:
    """Tags as a JSON object, or in the legacy form without braces (`"k": "v","k2": "v2"`)."""
    if isinstance(value, str):
        text = value.strip()
        if text and not text.startswith("{") and text.lower() != "null":
            try:
                parsed = json.loads("{" + text + "}")
            except json.JSONDecodeError:
                raise ValueError(f"not a tag list: {text[:40]!r}") from None
            return to_tags(parsed)
    return to_tags(value)


def _first(rec: RecordView, names: tuple[str, ...]) -> str:
    for name in names:
        if rec.has(name):
            return name
    return names[0]


class _Mapper:
    """The per-file choices (which header variant, which cost type) applied to each record."""

    def __init__(self, rec: RecordView, cost_type: CostType) -> None:
        self.rec = rec
        self.amortized = cost_type == "AmortizedCost"
        self.date = _first(rec, DATE)
        self.cost = _first(rec, COST)
        self.currency = _first(rec, CURRENCY)

    def _date(self, name: str, *, required: bool = False) -> datetime | None:
        try:
            value = parse_azure_date(self.rec.raw(name))
        except ValueError as exc:
            raise self.rec.error(name, str(exc)) from None
        if value is None and required:
            raise self.rec.error(name, "a value is required")
        return value

    def row(self) -> dict[str, Any]:
        rec = self.rec
        row = empty_row()
        day = self._date(self.date, required=True)
        assert day is not None
        cost = rec.money(self.cost, required=True)
        charge_type = fold_name(rec.text("chargetype") or "usage")
        model = fold_name(rec.text("pricingmodel") or "")
        commitment = model in _COMMITMENT_MODELS
        unused = charge_type in ("unusedreservation", "unusedsavingsplan")
        if self.amortized:
            row["effective_cost"] = cost
            row["billed_cost"] = ZERO if (commitment and charge_type == "usage") or unused else cost
        else:
            row["billed_cost"] = cost
            row["effective_cost"] = ZERO if commitment and charge_type == "purchase" else cost
        row["billing_currency"] = rec.currency(self.currency, required=True)
        row["charge_period_start"] = day
        row["charge_period_end"] = day + ONE_DAY
        period_start = self._date("billingperiodstartdate")
        period_end = self._date("billingperiodenddate")
        month_start, month_end = month_bounds(day)
        row["billing_period_start"] = period_start or month_start
        row["billing_period_end"] = (period_end + ONE_DAY) if period_end else month_end
        row["billing_account_id"] = rec.first_text("billingprofileid", "billingaccountid")
        row["billing_account_name"] = rec.first_text("billingprofilename", "billingaccountname")
        row["sub_account_id"] = rec.first_text("subscriptionid", "subscriptionguid")
        row["sub_account_name"] = rec.text("subscriptionname")
        row["provider_name"] = "Microsoft"
        row["publisher_name"] = rec.text("publishername") or "Microsoft"
        row["invoice_issuer_name"] = "Microsoft"
        row["invoice_id"] = rec.text("invoiceid")
        row["charge_category"] = AZURE_CHARGE_CATEGORIES.get(charge_type, "Usage")
        row["charge_frequency"] = _FREQUENCY.get(fold_name(rec.text("frequency") or ""))
        row["charge_description"] = rec.first_text("productname", "metername")
        row["pricing_category"] = _PRICING_CATEGORY.get(model)
        row["service_name"] = rec.first_text("metercategory", "servicename", "consumedservice")
        location = rec.first_text("resourcelocation", "location")
        row["region_id"] = location.lower().replace(" ", "") if location else None
        row["region_name"] = location
        resource_id = rec.first_text("resourceid", "instanceid", "instancename")
        row["resource_id"] = resource_id
        row["resource_name"] = resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None
        row["resource_type"] = rec.text("resourcetype")
        row["sku_id"] = rec.text("meterid")
        quantity = rec.money("quantity")
        unit = rec.text("unitofmeasure")
        row["pricing_quantity"] = row["consumed_quantity"] = quantity
        row["pricing_unit"] = row["consumed_unit"] = unit
        unit_price = rec.money("unitprice")
        row["contracted_unit_price"] = unit_price
        if unit_price is not None and quantity is not None:
            row["contracted_cost"] = unit_price * quantity
        payg_price = rec.money("paygprice")
        row["list_unit_price"] = payg_price
        payg_cost = rec.money("paygcostinbillingcurrency")
        if payg_cost is not None:
            row["list_cost"] = payg_cost
        elif payg_price is not None and quantity is not None:
            row["list_cost"] = payg_price * quantity
        if commitment:
            row["commitment_discount_id"] = rec.first_text("benefitid", "reservationid")
            row["commitment_discount_name"] = rec.first_text("benefitname", "reservationname")
            savings_plan = model == "savingsplan"
            row["commitment_discount_type"] = "Savings Plan" if savings_plan else "Reservation"
            row["commitment_discount_category"] = "Spend" if savings_plan else "Usage"
            if unused:
                row["commitment_discount_status"] = "Unused"
            elif charge_type == "usage":
                row["commitment_discount_status"] = "Used"
        try:
            row["tags"] = parse_azure_tags(rec.raw("tags"))
        except ValueError as exc:
            raise rec.error("tags", str(exc)) from None
        return row


def azure_export_rows(reader: TabularReader, cost_type: CostType) -> Iterator[dict[str, Any]]:
    """Ledger rows from an opened Azure export (non-FOCUS header)."""
    index, spelled = index_header(reader.header, fold_name)
    for variants in (DATE, COST, CURRENCY):
        if not any(v in index for v in variants):
            shown = "|".join(_DISPLAY.get(v, v) for v in variants)
            raise SourceRowError(reader.name, 1, shown, "required column is missing from the header")
    rec = RecordView(index, spelled, reader.name)
    mapper = _Mapper(rec, cost_type)
    for line, values in reader.records():
        rec.line = line
        rec.values = values
        yield mapper.row()


class AzureExportSource:
    """An Azure cost export file (CSV/CSV.gz/Parquet) as a BillingSource; FocusCost exports included."""

    name = "azure_export"

    def __init__(
        self,
        path_or_fileobj: PathOrFile,
        *,
        filename: str | None = None,
        cost_type: CostType | None = None,
    ) -> None:
        self._source = path_or_fileobj
        self._filename = filename
        self._cost_type = cost_type

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        with TabularReader(self._source, filename=self._filename) as reader:
            if looks_like_focus(reader.header):
                rows = focus_rows(reader)
            else:
                cost_type = self._cost_type or (
                    "AmortizedCost" if "amortized" in reader.name.lower() else "ActualCost"
                )
                rows = azure_export_rows(reader, cost_type)
            yield from batch_rows(rows, reader.progress, batch_size)
