"""GCP SKU list prices from the Cloud Billing Catalog API (`CloudCatalogClient.list_skus`), for ListCost where
the billing export has none. A SKU's list unit price is the first tier with a non-zero price (tier 0 is often
a free tier), in `usage_unit` / the export's pricing unit; prices are exact Decimals from units + nanos.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any, Protocol

_NANO = Decimal("0.000000001")


class ListPriceLookup(Protocol):
    """Unit list price by SKU id and its service (None when unknown); `currency` is the prices' currency."""

    currency: str

    def unit_price(self, sku_id: str, service_id: str | None = None) -> Decimal | None: ...


def money_to_decimal(money: Any) -> Decimal:
    """A google.type.Money (units + nanos) as an exact Decimal."""
    return Decimal(int(money.units or 0)) + Decimal(int(money.nanos or 0)) * _NANO


class GcpCatalogListPrices:
    """List prices of one service's SKUs, loaded on first use (one paged list_skus call, then a dict)."""

    def __init__(self, catalog_client: Any, service_id: str, *, currency: str = "USD") -> None:
        self._client = catalog_client
        self._service = service_id if service_id.startswith("services/") else f"services/{service_id}"
        self.currency = currency
        self._prices: dict[str, Decimal] | None = None

    def _load(self) -> dict[str, Decimal]:
        prices: dict[str, Decimal] = {}
        for sku in self._client.list_skus(request={"parent": self._service, "currency_code": self.currency}):
            for info in sku.pricing_info[:1]:  # the current pricing
                tiers = sorted(info.pricing_expression.tiered_rates, key=lambda t: t.start_usage_amount)
                for tier in tiers:
                    price = money_to_decimal(tier.unit_price)
                    if price > 0:
                        prices[sku.sku_id] = price
                        break
                else:
                    if tiers:
                        prices[sku.sku_id] = Decimal(0)
        return prices

    def unit_price(self, sku_id: str, service_id: str | None = None) -> Decimal | None:
        if service_id is not None and f"services/{service_id.removeprefix('services/')}" != self._service:
            return None
        if self._prices is None:
            self._prices = self._load()
        return self._prices.get(sku_id)


class GcpCatalogPriceBook:
    """List prices of every service an export names, each service's SKUs loaded on its first row."""

    def __init__(self, catalog_client: Any, *, currency: str = "USD") -> None:
        self._client = catalog_client
        self.currency = currency
        self._services: dict[str, GcpCatalogListPrices] = {}

    def unit_price(self, sku_id: str, service_id: str | None = None) -> Decimal | None:
        if not service_id:
            return None
        prices = self._services.get(service_id)
        if prices is None:
            prices = self._services[service_id] = GcpCatalogListPrices(
                self._client, service_id, currency=self.currency
            )
        return prices.unit_price(sku_id, service_id)


def make_catalog_client(endpoint: str | None = None) -> Any:
    """A Cloud Billing Catalog client over REST (credentials as google_credentials says)."""
    from google.cloud.billing_v1 import CloudCatalogClient

    return CloudCatalogClient(
        credentials=google_credentials(endpoint),
        transport="rest",
        client_options={"api_endpoint": endpoint} if endpoint else None,
    )


def google_credentials(endpoint: str | None) -> Any:
    """None (the client's Application Default Credentials) for Google's own endpoints. For an overridden
    endpoint (an emulator or a fake): the key file of GOOGLE_APPLICATION_CREDENTIALS when set, else anonymous
    credentials (without probing the GCE metadata server, as the default chain would)."""
    if not endpoint:
        return None
    from google.auth.credentials import AnonymousCredentials

    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file:
        import google.auth

        credentials, _project = google.auth.load_credentials_from_file(key_file)
        return credentials
    return AnonymousCredentials()
