"""Azure Cost Management export files: EA/pay-as-you-go and MCA header variants, actual vs amortized rules,
legacy tags, FocusCost exports through the FOCUS parser, and strict errors."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from economist.sources import AzureExportSource, SourceRowError
from tests.economist.test_source_focus import QUIRKY

# EA / legacy usage details, actual cost: MM/DD/YYYY dates, PreTaxCost, brace-less tags, SubscriptionGuid
EA_ACTUAL = (
    "SubscriptionGuid,SubscriptionName,Date,MeterCategory,MeterId,ResourceLocation,InstanceId,"
    "PreTaxCost,Currency,Quantity,UnitOfMeasure,UnitPrice,ChargeType,PricingModel,ReservationId,"
    "ReservationName,Tags\n"
    "sub-1,prod,09/01/2024,Virtual Machines,m-1,EU West,/subscriptions/sub-1/resourceGroups/rg/providers/"
    'Microsoft.Compute/virtualMachines/vm1,1.25,EUR,10,Hours,0.125,Usage,OnDemand,,,"""env"": ""prod"",'
    '""team"": ""web"""\n'
    "sub-1,prod,09/01/2024,Virtual Machines,m-2,EU West,/subscriptions/sub-1/x/vm2,0,EUR,24,Hours,0,Usage,"
    "Reservation,ri-1,my-ri,\n"
    "sub-1,prod,09/02/2024,Reservations,,,,876.00,EUR,1,Units,876,Purchase,Reservation,ri-1,my-ri,\n"
    "sub-1,prod,09/02/2024,Storage,m-3,EU West,,3.3E-1,EUR,1,GB,0.33,Refund,OnDemand,,,{}\n"
)

# MCA, amortized cost: ISO dates, CostInBillingCurrency, BillingCurrencyCode, JSON tags, billing period
MCA_AMORTIZED = (
    "billingAccountId,billingProfileId,billingProfileName,billingPeriodStartDate,billingPeriodEndDate,"
    "date,serviceName,meterCategory,resourceLocation,ResourceId,SubscriptionId,costInBillingCurrency,"
    "billingCurrencyCode,paygCostInBillingCurrency,quantity,unitOfMeasure,chargeType,pricingModel,"
    "benefitId,benefitName,frequency,tags\n"
    "acct,bp-1,Profile One,2024-09-01,2024-09-30,2024-09-01T00:00:00.0000000Z,Compute,Virtual Machines,"
    'eastus,/subscriptions/s/vm1,s,0.70,USD,1.00,1,Hours,Usage,SavingsPlan,sp-1,my-sp,UsageBased,"{""a"":""b""}"\n'
    "acct,bp-1,Profile One,2024-09-01,2024-09-30,2024-09-01,Compute,Virtual Machines,eastus,,s,0.30,USD,,,,"
    "UnusedSavingsPlan,SavingsPlan,sp-1,my-sp,Recurring,\n"
    "acct,bp-1,Profile One,2024-09-01,2024-09-30,2024-09-02,Storage,Storage,eastus,/subscriptions/s/st,s,"
    "2.00,USD,2.00,5,GB,Usage,OnDemand,,,UsageBased,\n"
)


def rows_of(source) -> list[dict]:
    return [row for batch in source.batches(2) for row in batch.rows]


def test_ea_actual_export(tmp_path: Path) -> None:
    path = tmp_path / "usage-actual.csv"
    path.write_text(EA_ACTUAL, encoding="utf-8-sig")
    vm, covered, purchase, refund = rows_of(AzureExportSource(path))
    assert vm["billed_cost"] == vm["effective_cost"] == Decimal("1.25")
    assert vm["charge_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert vm["charge_period_end"] == datetime(2024, 9, 2, tzinfo=UTC)
    assert vm["billing_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert vm["tags"] == {"env": "prod", "team": "web"}  # legacy form without braces
    assert vm["sub_account_id"] == "sub-1" and vm["service_name"] == "Virtual Machines"
    assert (vm["region_id"], vm["region_name"]) == ("euwest", "EU West")
    assert vm["resource_name"] == "vm1" and vm["sku_id"] == "m-1"
    assert vm["contracted_cost"] == Decimal("1.250") and vm["pricing_category"] == "Standard"
    assert vm["provider_name"] == "Microsoft" and vm["billing_currency"] == "EUR"
    assert covered["commitment_discount_status"] == "Used" and covered["commitment_discount_id"] == "ri-1"
    # actual: a commitment purchase is billed, its effective (amortized) cost is 0
    assert (purchase["billed_cost"], purchase["effective_cost"]) == (Decimal("876.00"), 0)
    assert purchase["charge_category"] == "Purchase" and purchase["commitment_discount_type"] == "Reservation"
    assert refund["charge_category"] == "Adjustment" and refund["billed_cost"] == Decimal("0.33")


def test_mca_amortized_export(tmp_path: Path) -> None:
    path = tmp_path / "amortized-2024-09.csv.gz"
    path.write_bytes(gzip.compress(MCA_AMORTIZED.encode()))
    covered, unused, storage = rows_of(AzureExportSource(path))  # "amortized" in the name
    assert (covered["billed_cost"], covered["effective_cost"]) == (0, Decimal("0.70"))
    assert (unused["billed_cost"], unused["effective_cost"]) == (0, Decimal("0.30"))
    assert unused["commitment_discount_status"] == "Unused" and unused["charge_category"] == "Usage"
    assert (storage["billed_cost"], storage["effective_cost"]) == (Decimal("2.00"), Decimal("2.00"))
    assert (
        covered["commitment_discount_type"] == "Savings Plan"
        and covered["commitment_discount_name"] == "my-sp"
    )
    assert covered["billing_account_id"] == "bp-1" and covered["billing_account_name"] == "Profile One"
    assert covered["billing_period_end"] == datetime(2024, 10, 1, tzinfo=UTC)
    assert covered["service_name"] == "Virtual Machines" and covered["list_cost"] == Decimal("1.00")
    assert covered["charge_frequency"] == "Usage-Based" and unused["charge_frequency"] == "Recurring"
    assert covered["tags"] == {"a": "b"}
    # the same file, declared actual, gives billed = cost
    plain = tmp_path / "export.csv"
    plain.write_text(MCA_AMORTIZED)
    rows = rows_of(AzureExportSource(plain, cost_type="ActualCost"))
    assert [r["billed_cost"] for r in rows] == [Decimal("0.70"), Decimal("0.30"), Decimal("2.00")]


def test_focus_cost_export_goes_through_the_focus_parser(tmp_path: Path) -> None:
    path = tmp_path / "focuscost.csv"
    path.write_text(QUIRKY, encoding="utf-8")
    rows = rows_of(AzureExportSource(path))
    assert [r["billed_cost"] for r in rows] == [Decimal("0.0015"), Decimal(2)]
    assert rows[1]["charge_category"] == "Credit"


def test_errors_name_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(EA_ACTUAL.replace("09/02/2024,Storage", "2024-13-45,Storage"))
    with pytest.raises(SourceRowError) as caught:
        rows_of(AzureExportSource(bad))
    assert (caught.value.line, caught.value.column) == (5, "Date")
    bad.write_text(EA_ACTUAL.replace("876.00", "eight hundred"))
    with pytest.raises(SourceRowError) as caught:
        rows_of(AzureExportSource(bad))
    assert (caught.value.line, caught.value.column) == (4, "PreTaxCost")
    bad.write_text("Date,MeterCategory,Currency\n09/01/2024,VM,USD\n")
    with pytest.raises(SourceRowError) as caught:
        rows_of(AzureExportSource(bad))
    assert (caught.value.line, caught.value.column) == (1, "CostInBillingCurrency|PreTaxCost|Cost")
