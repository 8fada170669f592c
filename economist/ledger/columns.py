"""The canonical ledger columns: python names, FOCUS names, kinds, and which ones every row must carry.

The `cloud_costs` table is built from LEDGER_COLUMNS; every source adapter emits dicts keyed by these names.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

ColumnKind = Literal["money", "quantity", "datetime", "str", "json"]


class LedgerColumn(NamedTuple):
    """One ledger column.

    name: python/SQL name; focus_name: the FOCUS column it carries; kind: money|quantity (Decimal),
    datetime (tz-aware UTC), str, json (dict); required: a FOCUS file must have this column and every
    row of every source carries a non-null value (so the table may declare it NOT NULL).
    """

    name: str
    focus_name: str
    kind: ColumnKind
    required: bool


_C = LedgerColumn

LEDGER_COLUMNS: Final[tuple[LedgerColumn, ...]] = (
    # money
    _C("billed_cost", "BilledCost", "money", True),
    _C("effective_cost", "EffectiveCost", "money", True),
    _C("list_cost", "ListCost", "money", False),
    _C("contracted_cost", "ContractedCost", "money", False),
    _C("list_unit_price", "ListUnitPrice", "money", False),
    _C("contracted_unit_price", "ContractedUnitPrice", "money", False),
    _C("billing_currency", "BillingCurrency", "str", True),
    # quantities
    _C("pricing_quantity", "PricingQuantity", "quantity", False),
    _C("pricing_unit", "PricingUnit", "str", False),
    _C("consumed_quantity", "ConsumedQuantity", "quantity", False),
    _C("consumed_unit", "ConsumedUnit", "str", False),
    # periods
    _C("billing_period_start", "BillingPeriodStart", "datetime", True),
    _C("billing_period_end", "BillingPeriodEnd", "datetime", True),
    _C("charge_period_start", "ChargePeriodStart", "datetime", True),
    _C("charge_period_end", "ChargePeriodEnd", "datetime", True),
    # accounts and parties
    _C("billing_account_id", "BillingAccountId", "str", False),
    _C("billing_account_name", "BillingAccountName", "str", False),
    _C("sub_account_id", "SubAccountId", "str", False),
    _C("sub_account_name", "SubAccountName", "str", False),
    _C("provider_name", "ProviderName", "str", True),
    _C("publisher_name", "PublisherName", "str", False),
    _C("invoice_issuer_name", "InvoiceIssuerName", "str", False),
    _C("invoice_id", "InvoiceId", "str", False),
    # charge
    _C("charge_category", "ChargeCategory", "str", True),
    _C("charge_class", "ChargeClass", "str", False),
    _C("charge_description", "ChargeDescription", "str", False),
    _C("charge_frequency", "ChargeFrequency", "str", False),
    _C("pricing_category", "PricingCategory", "str", False),
    # service, location, resource, sku
    _C("service_category", "ServiceCategory", "str", False),
    _C("service_name", "ServiceName", "str", False),
    _C("region_id", "RegionId", "str", False),
    _C("region_name", "RegionName", "str", False),
    _C("availability_zone", "AvailabilityZone", "str", False),
    _C("resource_id", "ResourceId", "str", False),
    _C("resource_name", "ResourceName", "str", False),
    _C("resource_type", "ResourceType", "str", False),
    _C("sku_id", "SkuId", "str", False),
    _C("sku_price_id", "SkuPriceId", "str", False),
    # commitment discounts
    _C("commitment_discount_id", "CommitmentDiscountId", "str", False),
    _C("commitment_discount_name", "CommitmentDiscountName", "str", False),
    _C("commitment_discount_category", "CommitmentDiscountCategory", "str", False),
    _C("commitment_discount_type", "CommitmentDiscountType", "str", False),
    _C("commitment_discount_status", "CommitmentDiscountStatus", "str", False),
    # raw tags, as the source gave them (normalize for grouping with economist.ledger.tags)
    _C("tags", "Tags", "json", False),
)

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in LEDGER_COLUMNS)
REQUIRED_COLUMNS: Final[tuple[str, ...]] = tuple(c.name for c in LEDGER_COLUMNS if c.required)
COLUMNS_BY_NAME: Final[dict[str, LedgerColumn]] = {c.name: c for c in LEDGER_COLUMNS}

#: FOCUS column name -> python name (the canonical FOCUS 1.x spelling).
FOCUS_TO_LEDGER: Final[dict[str, str]] = {c.focus_name: c.name for c in LEDGER_COLUMNS}

#: Other FOCUS names (0.5 / 1.0-preview, and 1.3's ServiceProviderName) -> the FOCUS 1.x column they fill.
#: A file that has both spellings uses the 1.x one.
FOCUS_ALIASES: Final[dict[str, str]] = {
    "AmortizedCost": "EffectiveCost",
    "ChargeType": "ChargeCategory",
    "Provider": "ProviderName",
    "ServiceProviderName": "ProviderName",  # FOCUS 1.3's successor of ProviderName
    "Publisher": "PublisherName",
    "InvoiceIssuer": "InvoiceIssuerName",
    "BilledCurrency": "BillingCurrency",
    "Region": "RegionId",
    "UsageQuantity": "ConsumedQuantity",
    "UsageUnit": "ConsumedUnit",
}


def empty_row() -> dict[str, object]:
    """A ledger row with every column present and set to None (tags: empty dict)."""
    row: dict[str, object] = dict.fromkeys(COLUMN_NAMES)
    row["tags"] = {}
    return row
