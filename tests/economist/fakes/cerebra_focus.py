"""A fake of cerebra's FOCUS export (`GET /api/v1/analytics/focus?from=&to=&format=csv`, `X-API-Key`): the
documented FOCUS 1.2 columns for LLM usage, one row per hour and API key, with deterministic costs."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tests.economist.fakes.http import Request, Response

COLUMNS = [
    "ProviderName", "PublisherName", "ServiceCategory", "ServiceName", "ChargeCategory", "ChargeDescription",
    "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
    "BillingPeriodStart", "BillingPeriodEnd", "BillingAccountId", "SubAccountId", "SubAccountName",
    "ResourceId", "ConsumedQuantity", "ConsumedUnit", "PricingUnit", "Tags",
]  # fmt: skip
#: the keys whose spend the fake reports: (key id, LLM provider, model, team, alias)
KEYS = [
    ("key-1", "OpenAI", "gpt-4o", "search", "search-bot"),
    ("key-2", "Anthropic", "claude-sonnet-4", "support", "helpdesk"),
]


def hourly_cost(moment: datetime, key_index: int) -> Decimal:
    """The fake's cost of one key in the hour starting at `moment`: 0.0015 x (hour of day + 1) x (key + 1)."""
    return Decimal("0.0015") * (moment.hour + 1) * (key_index + 1)


class CerebraFocusFake:
    """The handler of a LoopbackServer; `account` is the BillingAccountId (one per test)."""

    def __init__(self, api_key: str, account: str) -> None:
        self.api_key = api_key
        self.account = account

    def __call__(self, request: Request) -> Response:
        if request.path != "/api/v1/analytics/focus":
            return Response(404, {"error": "not found"})
        if request.headers.get("x-api-key") != self.api_key:
            return Response(401, {"error": {"message": "invalid API key"}})
        start = date.fromisoformat(request.query["from"][0])
        end = date.fromisoformat(request.query["to"][0])
        assert request.query["format"] == ["csv"]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        moment = datetime(start.year, start.month, start.day, tzinfo=UTC)
        stop = datetime(end.year, end.month, end.day, tzinfo=UTC)
        while moment < stop:
            period_start = moment.replace(day=1, hour=0)
            period_end = (period_start + timedelta(days=32)).replace(day=1)
            for index, (key, provider, model, team, alias) in enumerate(KEYS):
                cost = hourly_cost(moment, index)
                tags = {"team": team, "org": "acme", "agent": f"{alias}-agent", "alias": alias}
                writer.writerow(
                    [
                        provider, provider, "AI and Machine Learning", model, "Usage", f"{model} tokens",
                        cost, cost, cost, "USD", moment.isoformat(), (moment + timedelta(hours=1)).isoformat(),
                        period_start.isoformat(), period_end.isoformat(), self.account, key, alias,
                        alias, 1000 * (index + 1), "Tokens", "1K Tokens", json.dumps(tags),
                    ]
                )  # fmt: skip
            moment += timedelta(hours=1)
        return Response(200, out.getvalue().encode(), {"Content-Type": "text/csv"})
