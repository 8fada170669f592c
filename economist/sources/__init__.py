"""Billing source adapters: each turns one kind of billing data into batches of typed ledger rows.

Vendor SDK types stay inside this package; callers see BillingSource, SourceBatch and SourceRowError.
"""

from economist.sources.aws_cost_explorer import AwsCostExplorerSource
from economist.sources.aws_cur import AwsCurSource
from economist.sources.azure_cost import AzureCostQuerySource
from economist.sources.azure_exports import AzureExportSource
from economist.sources.base import (
    DEFAULT_BATCH_SIZE,
    BillingSource,
    SourceBatch,
    SourceProgress,
    SourceRowError,
)
from economist.sources.focus import FocusSource, open_focus_source, open_focus_source_s3
from economist.sources.gcp_bigquery import GcpBigQuerySource
from economist.sources.gcp_catalog import GcpCatalogListPrices, GcpCatalogPriceBook, ListPriceLookup

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "AwsCostExplorerSource",
    "AwsCurSource",
    "AzureCostQuerySource",
    "AzureExportSource",
    "BillingSource",
    "FocusSource",
    "GcpBigQuerySource",
    "GcpCatalogListPrices",
    "GcpCatalogPriceBook",
    "ListPriceLookup",
    "SourceBatch",
    "SourceProgress",
    "SourceRowError",
    "open_focus_source",
    "open_focus_source_s3",
]
