"""Governance logic: policies (API or YAML file), their evaluation into violations (one unresolved per policy
and resource, resolved when the condition clears, suppressions that expire) and the webhooks for new ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError

from economist.costs.params import CostQuery, Dimension, Filter
from economist.costs.service import CostService
from economist.governance import evaluators as ev
from economist.governance import repository as repo
from economist.governance.metrics import VIOLATIONS_OPEN
from economist.governance.rules import SEVERITIES, params_document, parse_params, parse_scope
from economist.ledger.tables import prepare_connection
from economist.ledger.tags import TagNormalizer
from economist.notifications.service import check_webhook_url
from oco.db import Database
from oco.errors import Conflict, InvalidRequest
from oco.money import money_str
from oco.notify import Notifier, slack_body
from oco.pagination import PageParams
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("economist.governance")

EDITABLE = (
    "name",
    "type",
    "description",
    "scope",
    "params",
    "severity",
    "enabled",
    "webhook_url",
    "webhook_format",
)
VIOLATION_EVENT = "governance.violation.opened"


class PolicyFileError(ValueError):
    """OCO_ECONOMIST_POLICIES cannot be read or holds an invalid policy."""


class GovernanceService:
    """Policies, violations and their notifications over one database."""

    def __init__(
        self,
        database: Database,
        normalizer: TagNormalizer,
        *,
        notifier: Notifier | None = None,
        default_currency: str = "USD",
        parallel: int = 2,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.normalizer = normalizer
        self.notifier = notifier
        self.costs = CostService(database, default_currency)
        self.clock = clock
        self.parallel = max(1, parallel)

    # -- policies ----------------------------------------------------------------------------------------

    def _validated(self, body: dict[str, Any]) -> dict[str, Any]:
        if not str(body.get("name") or "").strip():
            raise InvalidRequest("name: a policy needs a name", param="name")
        params = parse_params(str(body.get("type")), body.get("params"))
        scope = parse_scope(body.get("scope"))
        severity = body.get("severity") or "medium"
        if severity not in SEVERITIES:
            raise InvalidRequest(f"severity: use one of {', '.join(SEVERITIES)}", param="severity")
        webhook_format = body.get("webhook_format") or "json"
        if webhook_format not in ("json", "slack"):
            raise InvalidRequest("webhook_format: use json or slack", param="webhook_format")
        url = body.get("webhook_url")
        if url is not None and not str(url).startswith(("http://", "https://")):
            raise InvalidRequest("webhook_url: must be an http:// or https:// URL", param="webhook_url")
        return {
            "name": str(body["name"]).strip(),
            "type": body["type"],
            "description": body.get("description"),
            "scope": scope.model_dump(exclude_none=True),
            "params": params_document(params),
            "severity": severity,
            "enabled": True if body.get("enabled") is None else bool(body["enabled"]),
            "webhook_url": url,
            "webhook_format": webhook_format,
        }

    async def create_policy(self, body: dict[str, Any], *, origin: str = "api") -> dict[str, Any]:
        """A new policy; raises InvalidRequest naming the field, Conflict for a taken name."""
        values = self._validated(body)
        await self._check_webhook(values)
        now = self.clock()
        async with self.database.engine.begin() as conn:
            if await repo.policy_by_name(conn, values["name"]) is not None:
                raise Conflict(f"a policy named {values['name']!r} exists", param="name")
            policy_id = await repo.insert_policy(
                conn, {**values, "origin": origin, "created_at": now, "updated_at": now}
            )
        policy = await self.get_policy(policy_id)
        assert policy is not None
        return policy

    async def _check_webhook(self, values: dict[str, Any]) -> None:
        if self.notifier is not None:
            await check_webhook_url(self.notifier.addresses, values.get("webhook_url"))

    async def get_policy(self, policy_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_policy(conn, policy_id)

    async def list_policies(
        self, page: PageParams, *, type_: str | None = None, enabled: bool | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.list_policies(conn, page, type_=type_, enabled=enabled)

    async def update_policy(self, policy_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply the given fields (validated as a whole); None when there is no such policy."""
        async with self.database.engine.begin() as conn:
            current = await repo.get_policy(conn, policy_id)
            if current is None:
                return None
            merged = {k: current[k] for k in EDITABLE} | {k: v for k, v in changes.items() if k in EDITABLE}
            if "type" in changes and changes["type"] != current["type"] and "params" not in changes:
                raise InvalidRequest("params: changing the type needs the new type's params", param="params")
            values = self._validated(merged)
            await self._check_webhook(values)
            if values["name"] != current["name"] and await repo.policy_by_name(conn, values["name"]):
                raise Conflict(f"a policy named {values['name']!r} exists", param="name")
            await repo.update_policy(conn, policy_id, {**values, "updated_at": self.clock()})
        return await self.get_policy(policy_id)

    async def delete_policy(self, policy_id: int) -> bool:
        async with self.database.engine.begin() as conn:
            policy = await repo.get_policy(conn, policy_id)
            deleted = await repo.delete_policy(conn, policy_id)
        if policy is not None:
            VIOLATIONS_OPEN.remove_policy(policy["name"])
        return deleted

    async def load_file(self, path: Path) -> int:
        """Upsert (by name) the policies of a YAML file (`policies: [...]` or a list), marked origin `file`."""
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            document = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyFileError(f"{path}: {exc}") from None
        items = document.get("policies") if isinstance(document, dict) else document
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise PolicyFileError(f"{path}: expected a list of policies (or `policies:` holding one)")
        for position, item in enumerate(items):
            try:
                values = self._validated(item)
            except InvalidRequest as exc:
                raise PolicyFileError(f"{path}: policy {position + 1}: {exc.message}") from None
            now = self.clock()
            async with self.database.engine.begin() as conn:
                existing = await repo.policy_by_name(conn, values["name"])
                if existing is None:
                    await repo.insert_policy(
                        conn, {**values, "origin": "file", "created_at": now, "updated_at": now}
                    )
                else:
                    await repo.update_policy(
                        conn, existing["id"], {**values, "origin": "file", "updated_at": now}
                    )
        return len(items)

    # -- evaluation --------------------------------------------------------------------------------------

    async def _spend(self, scope: Any, start: date, end: date, currency: str) -> Decimal:
        filters = []
        for kind, value in (
            ("provider", scope.provider),
            ("account", scope.account),
            ("service", scope.service),
            ("region", scope.region),
        ):
            if value is not None:
                filters.append(Filter(Dimension(kind), (value,)))
        for key, value in (scope.tag or {}).items():
            filters.append(Filter(Dimension("tag", self.normalizer.key(key), key), (value,)))
        result = await self.costs.query(CostQuery(start, end, filters=tuple(filters), currency=currency))
        return result.total

    async def findings(self, policy: dict[str, Any], as_of: date) -> list[ev.Finding]:
        """What the policy flags on `as_of` (reads only)."""
        params = parse_params(policy["type"], policy["params"])
        scope = parse_scope(policy["scope"])
        kind = policy["type"]
        if kind == "budget_limit":
            return await ev.budget_limit(params, scope, as_of, self._spend)  # type: ignore[arg-type]
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            if kind == "tag_compliance":
                return await ev.tag_compliance(conn, params, scope, as_of, self.normalizer)  # type: ignore[arg-type]
            if kind == "region_restriction":
                return await ev.region_restriction(conn, params, scope, as_of, self.normalizer)  # type: ignore[arg-type]
            if kind in ("service_allowlist", "service_denylist"):
                allow = kind == "service_allowlist"
                return await ev.service_list(conn, params, scope, as_of, self.normalizer, allow=allow)  # type: ignore[arg-type]
            return await ev.max_resource_cost(conn, params, scope, as_of, self.normalizer)  # type: ignore[arg-type]

    async def evaluate(self, policy_id: int, *, dry_run: bool = False) -> dict[str, Any] | None:
        """Evaluate one policy now; with dry_run, what it would flag, open and resolve, writing nothing."""
        policy = await self.get_policy(policy_id)
        if policy is None:
            return None
        return await self._evaluate(policy, dry_run=dry_run)

    async def evaluate_all(self) -> dict[str, Any]:
        """Evaluate every enabled policy (on PostgreSQL `parallel` at a time, each on its own connection); a
        policy that fails is logged and the others still run."""
        async with self.database.engine.connect() as conn:
            enabled = await repo.enabled_policies(conn)
        gate = asyncio.Semaphore(self.parallel if self.database.dialect == "postgresql" else 1)

        async def one(policy: dict[str, Any]) -> dict[str, Any] | None:
            async with gate:
                try:
                    return await self._evaluate(policy, dry_run=False, refresh_metrics=False)
                except Exception:
                    log.exception("policy %s (%s) could not be evaluated", policy["id"], policy["name"])
                    return None

        outcomes = await asyncio.gather(*(one(policy) for policy in enabled))
        await self.refresh_metrics()  # once, after every write (a refresh per task could land out of order)
        done = [o for o in outcomes if o is not None]
        return {
            "policies": len(enabled),
            "opened": sum(len(o["opened"]) for o in done),
            "resolved": sum(len(o["resolved"]) for o in done),
            "failed": len(outcomes) - len(done),
        }

    async def _evaluate(
        self, policy: dict[str, Any], *, dry_run: bool, refresh_metrics: bool = True
    ) -> dict[str, Any]:
        now = self.clock()
        found = await self.findings(policy, now.date())
        for attempt in range(2):  # a concurrent evaluation may open the same violation first: redo once
            try:
                opened, resolved = await self._apply(policy, found, now, dry_run=dry_run)
                break
            except IntegrityError:
                if attempt:
                    raise
        if not dry_run:
            if refresh_metrics:
                await self.refresh_metrics()
            for violation in opened:
                await self._notify(policy, violation)
        return {
            "policy_id": policy["id"],
            "policy_name": policy["name"],
            "dry_run": dry_run,
            "evaluated_at": now,
            "findings": [
                {
                    "resource": f.resource,
                    "cost_at_stake": f.cost_at_stake,
                    "currency": f.currency,
                    "evidence": f.evidence,
                }
                for f in found
            ],
            "opened": opened,
            "resolved": resolved,
        }

    async def _apply(
        self, policy: dict[str, Any], found: list[ev.Finding], now: datetime, *, dry_run: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """In one transaction: open new violations, refresh still-present ones (an expired suppression opens
        again), resolve those whose condition cleared. Returns (opened, resolved)."""
        opened: list[dict[str, Any]] = []
        resolved: list[dict[str, Any]] = []
        new_rows: list[dict[str, Any]] = []
        refreshed: list[dict[str, Any]] = []
        async with self.database.engine.begin() as conn:
            current = {v["resource"]: v for v in await repo.unresolved(conn, policy["id"])}
            for finding in found:
                values = {
                    "severity": policy["severity"],
                    "evidence": finding.evidence,
                    "cost_at_stake": finding.cost_at_stake,
                    "currency": finding.currency,
                    "last_seen_at": now,
                    "updated_at": now,
                }
                existing = current.pop(finding.resource, None)
                if existing is None:
                    new_rows.append(
                        {
                            **values,
                            "policy_id": policy["id"],
                            "resource": finding.resource,
                            "open_key": f"{policy['id']}:{finding.resource}",
                            "status": "open",
                            "first_seen_at": now,
                        }
                    )
                    continue
                until = as_utc(existing["suppressed_until"])
                expired = existing["status"] == "suppressed" and until is not None and until <= now
                values["status"] = "open" if expired else existing["status"]
                values["suppressed_until"] = None if expired else until
                refreshed.append({**values, "id": existing["id"]})
                if expired:
                    opened.append({**existing, **values})
            stale = [
                {**v, "status": "resolved", "open_key": None, "resolved_at": now} for v in current.values()
            ]
            resolved += stale
            if not dry_run:
                ids = await repo.insert_violations(conn, new_rows)
                new_rows = [{**row, "id": ids[row["resource"]]} for row in new_rows]
                await repo.refresh_violations(conn, refreshed)
                await repo.resolve_violations(conn, [v["id"] for v in stale], now)
                await repo.update_policy(conn, policy["id"], {"last_evaluated_at": now})
            else:
                new_rows = [{**row, "id": None} for row in new_rows]
        return new_rows + opened, resolved

    async def _notify(self, policy: dict[str, Any], violation: dict[str, Any]) -> None:
        url = policy.get("webhook_url")
        if not url or self.notifier is None:
            return
        cost = money_str(violation["cost_at_stake"]) or "0"
        if policy["webhook_format"] == "slack":
            text = (
                f"[{violation['severity']}] policy {policy['name']} ({policy['type']}): {violation['resource']}"
                f" violates it, {cost} {violation['currency'] or ''} at stake"
            ).strip()
            payload = slack_body(text)
        else:
            payload = {
                "event": VIOLATION_EVENT,
                "policy": {"id": policy["id"], "name": policy["name"], "type": policy["type"]},
                "violation": {
                    "id": violation["id"],
                    "resource": violation["resource"],
                    "severity": violation["severity"],
                    "cost_at_stake": cost,
                    "currency": violation["currency"],
                    "evidence": violation["evidence"],
                },
            }
        try:
            await self.notifier.send(url, VIOLATION_EVENT, payload)
        except Exception:
            log.exception("could not enqueue the notification of violation %s", violation["id"])

    async def refresh_metrics(self) -> None:
        async with self.database.engine.connect() as conn:
            counts = await repo.open_counts(conn)
        for name, count in counts.items():
            VIOLATIONS_OPEN.labels(policy=name).set(count)

    # -- violations --------------------------------------------------------------------------------------

    async def list_violations(self, page: PageParams, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.list_violations(conn, page, **filters)

    async def get_violation(self, violation_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_violation(conn, violation_id)

    async def update_violation(
        self,
        violation_id: int,
        status: str,
        *,
        by: str,
        reason: str | None = None,
        expires_at: datetime | None = None,
    ) -> dict[str, Any] | None:
        """Acknowledge, suppress (reason and expiry required) or reopen a violation; a resolved one refuses."""
        now = self.clock()
        if status == "suppressed":
            if not (reason or "").strip():
                raise InvalidRequest("reason: a suppression needs a reason", param="reason")
            until = as_utc(expires_at)
            if until is None or until <= now:
                raise InvalidRequest(
                    "expires_at: a suppression needs an expiry in the future", param="expires_at"
                )
        async with self.database.engine.begin() as conn:
            current = await repo.get_violation(conn, violation_id)
            if current is None:
                return None
            if current["status"] == "resolved":
                raise Conflict(f"violation {violation_id} is resolved", param="status")
            values: dict[str, Any] = {"status": status, "updated_at": now}
            if status == "acknowledged":
                values.update(acknowledged_at=now, acknowledged_by=by)
            elif status == "suppressed":
                values.update(suppressed_reason=reason, suppressed_until=as_utc(expires_at), suppressed_by=by)
            await repo.update_violation(conn, violation_id, values)
        await self.refresh_metrics()
        return await self.get_violation(violation_id)
