"""Economist's notifier (oco.notify, configured from the settings) and the anomaly alerts: after an ingestion,
each new anomaly at or above the configured severity is sent once to OCO_ECONOMIST_ANOMALY_WEBHOOK_URL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI

from economist.anomalies import metrics as anomaly_metrics
from economist.anomalies.service import AnomalyService
from economist.costs.params import CostQuery, Dimension
from economist.notifications.metrics import count_failure
from economist.settings import EconomistSettings
from oco.db import Database
from oco.errors import InvalidRequest
from oco.money import money_str
from oco.netguard import AddressPolicy, Refused
from oco.notify import Notifier, notifier_from_settings, slack_body
from oco.timeutil import utcnow

log = logging.getLogger("economist.notifications")

SERVICE = "economist"
ANOMALY_EVENT = "anomaly.detected"
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def build_notifier(database: Database, settings: EconomistSettings) -> Notifier:
    """The economist Notifier from OCO_NOTIFY_* (no secret: deliveries are recorded failed, never unsigned)."""
    return notifier_from_settings(database, settings, service=SERVICE, on_failed=count_failure)


async def check_webhook_url(addresses: AddressPolicy, url: str | None) -> None:
    """At creation: refuse (422, `webhook_url`) a URL whose host resolves to a non-public address the
    allow-list does not name; a host that does not resolve yet passes (each delivery checks again)."""
    if url is None:
        return
    try:
        await addresses.check(url, what="webhook URL", unresolvable_ok=True)
    except Refused as exc:
        raise InvalidRequest(f"webhook_url: {exc}", param="webhook_url", code="url_not_allowed") from None


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10])
    return None


class AnomalyAlerts:
    """Sends the anomalies of the days an ingestion covered (each anomaly once: its day, series, currency)."""

    def __init__(self, database: Database, notifier: Notifier, settings: EconomistSettings) -> None:
        self.anomalies = AnomalyService(database)
        self.notifier = notifier
        self.url = settings.oco_economist_anomaly_webhook_url
        self.slack = settings.oco_economist_anomaly_webhook_format == "slack"
        self.min_rank = SEVERITY_RANK[settings.oco_economist_anomaly_notify_severity]
        self.min_cost = Decimal(settings.oco_economist_anomaly_min_cost)
        self.days = settings.oco_economist_anomaly_notify_days

    async def after_ingestion(self, record: dict[str, Any]) -> int:
        """The ingestion hook: publish what the recent days hold (oco_economist_anomalies) and, when the alerts
        are configured, enqueue each anomaly at or above the severity once; how many were enqueued."""
        end = _as_date(record.get("period_end")) or utcnow().date() + timedelta(days=1)
        query = CostQuery(
            end - timedelta(days=self.days), end, group_by=(Dimension("service"), Dimension("account"))
        )
        found = await self.anomalies.find(query, self.min_cost, root_causes=10)
        anomaly_metrics.publish(found["anomalies"])
        if not self.url:
            return 0
        sent = 0
        for anomaly in found["anomalies"]:
            if SEVERITY_RANK[anomaly["severity"]] < self.min_rank:
                continue
            key = f"anomaly:{anomaly['date']}:{anomaly.get('service')}:{anomaly.get('account')}:{anomaly['currency']}"
            before = await self.notifier.send(self.url, ANOMALY_EVENT, self._payload(anomaly), once_key=key)
            sent += 1 if before else 0
        return sent

    def _payload(self, anomaly: dict[str, Any]) -> dict[str, Any]:
        actual, expected = money_str(anomaly["actual"]), money_str(anomaly["expected"])
        cause = anomaly.get("root_cause")
        if self.slack:
            text = (
                f"[{anomaly['severity']}] cost anomaly on {anomaly['date']}: {anomaly.get('service')} "
                f"({anomaly.get('account')}) cost {actual} {anomaly['currency']}, expected {expected}"
            )
            if cause:
                text += f"; root cause {cause['dimension']} {cause['value']}"
            return slack_body(text)
        return {
            "event": ANOMALY_EVENT,
            "anomaly": {
                "date": anomaly["date"].isoformat(),
                "service": anomaly.get("service"),
                "account": anomaly.get("account"),
                "currency": anomaly["currency"],
                "actual": actual,
                "expected": expected,
                "deviation": money_str(anomaly["deviation"]),
                "severity": anomaly["severity"],
                "root_cause": (
                    {
                        "dimension": cause["dimension"],
                        "value": cause["value"],
                        "delta": money_str(cause["delta"]),
                    }
                    if cause
                    else None
                ),
            },
        }


def notifications_lifespan(
    settings: EconomistSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan hook (after ingestion's): app.state.notifier, its worker, and the anomaly alerts."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        notifier = build_notifier(app.state.database, settings)
        app.state.notifier = notifier
        alerts = AnomalyAlerts(app.state.database, notifier, settings)
        app.state.anomaly_alerts = alerts

        async def after_ingestion(record: dict[str, Any]) -> None:
            await alerts.after_ingestion(record)

        app.state.ingestion.after_success.append(after_ingestion)
        notifier.start()
        try:
            yield
        finally:
            await notifier.stop()

    return hook


BUDGET_EVENT = "budget.threshold.crossed"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


async def send_threshold_crossings(
    notifier: Notifier, crossings: list[Any], *, slack: bool = False
) -> list[int]:
    """Send the budget thresholds crossed (budgets' `evaluate_thresholds(...)` result: objects or dicts with
    budget_id, name, percent, on, spent, forecast, amount, currency, period_start, period_end, webhook_url)
    to each one's webhook_url, once per budget, period, percent and basis; the delivery ids."""
    ids = []
    for crossing in crossings:
        url = _field(crossing, "webhook_url")
        if not url:
            continue
        values = {
            name: _field(crossing, name)
            for name in ("budget_id", "name", "percent", "on", "spent", "forecast", "amount", "currency")
        }
        for money in ("spent", "forecast", "amount"):
            if isinstance(values[money], Decimal):
                values[money] = money_str(values[money])
        start, end = _field(crossing, "period_start"), _field(crossing, "period_end")
        values["period_start"] = start.isoformat() if hasattr(start, "isoformat") else start
        values["period_end"] = end.isoformat() if hasattr(end, "isoformat") else end
        if slack:
            payload = slack_body(
                f"budget {values['name']} crossed {values['percent']}% ({values['on']}): "
                f"{values['spent']} of {values['amount']} {values['currency']} spent"
            )
        else:
            payload = {"event": BUDGET_EVENT, "budget": values}
        key = f"budget:{values['budget_id']}:{values['period_start']}:{values['percent']}:{values['on']}"
        ids.append(await notifier.send(url, BUDGET_EVENT, payload, once_key=key))
    return ids
