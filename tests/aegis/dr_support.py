"""Support for the DR tests: an aegis app with two fake clusters and a storage location, plan creation, an
injectable clock, and pollers for runs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.aegis.api_env import AegisEnv

RUN_FINISHED = ("Completed", "Failed")


class Clock:
    """A clock the DR service reads (``step``: how far it moves on every read)."""

    def __init__(self, now: datetime | None = None, step: timedelta = timedelta(0)) -> None:
        self.now = now or datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now = now + self.step
        return now

    def set(self, now: datetime) -> None:
        self.now = now


def use_clock(env: AegisEnv, clock: Clock) -> None:
    env.app.state.dr_plans.clock = clock


async def create_plan(env: AegisEnv, location: str, name: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "source_cluster": env.src,
        "target_cluster": env.dr,
        "included_namespaces": ["shop"],
        "storage_location": location,
        "rpo_minutes": 30,
        "rto_minutes": 15,
        "readiness": {"workloads_available": True, "timeout_s": 10},
        **fields,
    }
    return await env.ok("POST", "/api/v1/dr/plans", 201, json=body)


async def wait_run(
    env: AegisEnv, plan_id: int, run_id: int, kind: str = "drills", timeout: float = 60.0
) -> dict[str, Any]:
    """Poll a drill (``drills``) or runbook (``runbooks``) through the API until it ends."""
    deadline = time.monotonic() + timeout
    while True:
        run = await env.ok("GET", f"/api/v1/dr/plans/{plan_id}/{kind}/{run_id}")
        if run["phase"] in RUN_FINISHED:
            return run
        assert time.monotonic() < deadline, (
            f"run {run_id} still {run['phase']} after {timeout}s: {run['steps']}"
        )
        await asyncio.sleep(0.05)


def steps_by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in run["steps"]}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
