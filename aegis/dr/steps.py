"""The recorded steps of a DR run: each step's status, start, end and duration, written to the run as it
moves; a failing step records the check that failed (and the objects it names) and stops the run."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aegis.dr import repository as repo
from oco.db import Database
from oco.runs import ProgressCallback


class StepFailed(Exception):
    """A step could not do its job: ``check`` names what failed, ``reason`` why, ``objects`` what it
    concerns; ``next_action`` tells the operator what to do (the run stops)."""

    def __init__(
        self, check: str, reason: str, *, objects: Iterable[str] = (), next_action: str | None = None
    ) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason
        self.objects = list(objects)
        self.next_action = next_action
        self.step: str | None = None


class StepSkipped(Exception):
    """Leave a step out (with why): the run goes on."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class StepLog:
    """The steps of one run, in order; ``async with log.step(name) as step`` runs one (``step`` is its dict:
    set ``detail`` and ``objects``). ``save`` writes the steps, failed checks and any other run columns."""

    def __init__(
        self,
        database: Database,
        run_id: int,
        names: Iterable[str],
        *,
        clock: Callable[[], datetime],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.database = database
        self.run_id = run_id
        self.clock = clock
        self.progress = progress
        self.cancel = cancel
        self.steps: list[dict[str, Any]] = [{"name": n, "status": "pending", "objects": []} for n in names]
        self.failed_checks: list[dict[str, Any]] = []
        #: when each step started and ended (datetimes, for RTO arithmetic)
        self.times: dict[str, tuple[datetime, datetime | None]] = {}

    def get(self, name: str) -> dict[str, Any]:
        return next(s for s in self.steps if s["name"] == name)

    async def save(self, **values: Any) -> None:
        async with self.database.engine.begin() as conn:
            await repo.update_run(
                conn, self.run_id, steps=self.steps, failed_checks=self.failed_checks, **values
            )

    def _report(self, current: str) -> None:
        if self.progress is not None:
            done = sum(1 for s in self.steps if s["status"] in ("succeeded", "skipped", "failed"))
            self.progress({"step": current, "steps_done": done, "steps_total": len(self.steps)})

    async def skip(self, name: str, reason: str) -> None:
        step = self.get(name)
        now = self.clock()
        step.update(
            status="skipped", detail=reason, started_at=_iso(now), finished_at=_iso(now), duration_s=0.0
        )
        self._report(name)
        await self.save()

    def fail_check(self, step: str, check: str, reason: str, objects: Iterable[str] = ()) -> None:
        self.failed_checks.append({"step": step, "check": check, "reason": reason, "objects": list(objects)})

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[dict[str, Any]]:
        if self.cancel is not None and self.cancel.is_set():
            failure = StepFailed(
                "interrupted",
                "interrupted (the service is stopping)",
                next_action="start the run again once the service is back",
            )
            failure.step = name
            raise failure
        step = self.get(name)
        started = self.clock()
        step.update(status="running", started_at=_iso(started))
        self.times[name] = (started, None)
        self._report(name)
        await self.save()
        try:
            yield step
        except StepSkipped as skipped:
            step.update(status="skipped", detail=str(skipped))
        except StepFailed as failure:
            failure.step = name
            step.update(status="failed", detail=failure.reason)
            self.fail_check(name, failure.check, failure.reason, failure.objects)
            self._finish(name, started)
            await self.save()
            raise
        except BaseException as exc:
            step.update(status="failed", detail=f"internal error: {type(exc).__name__}")
            self._finish(name, started)
            await self.save()
            raise
        else:
            step["status"] = "succeeded"
        self._finish(name, started)
        await self.save()

    def _finish(self, name: str, started: datetime) -> None:
        finished = self.clock()
        step = self.get(name)
        step.update(finished_at=_iso(finished), duration_s=round((finished - started).total_seconds(), 3))
        self.times[name] = (started, finished)
