"""A bounded soak of cerebra (used by bench/soak_cerebra.py and a short CI test): `python -m cerebra` as a
subprocess on the built-in route table (`demo` on the mock provider), request logging with its spool on,
two keys made through the admin API, one with a requests-per-minute limit below its offered rate (so some
429s are expected) and one with a budget; open-loop load at a steady rate (JSON and streamed calls), the
process's RSS sampled throughout, and at the end the request-log rows counted against the responses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from cerebra.analytics.tables import api_requests
from oco import migrations
from oco.auth import KeyStore
from oco.db import Database
from tests.service_process import ServiceProcess, start_service

LIMITED_SHARE = 0.25  # of the offered rate goes to the rate-limited key
LIMITED_RPM_FRACTION = 0.5  # its rpm limit admits about half of what it is offered
BODY = {"model": "demo", "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}


@dataclass
class SoakResult:
    seconds: float
    rate: float
    statuses: Counter = field(default_factory=Counter)  # per status, per key ("limited"/"budgeted")
    errors: Counter = field(default_factory=Counter)  # transport errors and unexpected statuses
    rss_kib: list[tuple[float, int]] = field(default_factory=list)  # (elapsed s, VmRSS)
    sent: int = 0
    responses: int = 0
    rows: int = 0
    duplicated_rows: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cache_hits: int = 0  # answers the response cache gave (every other budgeted call may be one)
    prefix: str = ""  # of every request id of the soak
    log_tail: str = ""  # the end of cerebra's output

    @property
    def served(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status == 200)

    @property
    def limited(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status == 429)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _admin(database_url: str) -> str:
    database = Database(database_url, pool_size=1)
    try:
        return (await KeyStore(database).create(f"soak-admin-{uuid.uuid4().hex[:8]}", ["admin"])).plaintext
    finally:
        await database.dispose()


async def _setup(
    session: aiohttp.ClientSession, url: str, admin: str, rate: float, seconds: float
) -> dict[str, str]:
    """Two cerebra keys: `limited` (rpm limit) and `budgeted` (a monthly budget far above the soak's spend)."""
    headers = {"X-API-Key": admin}
    keys: dict[str, str] = {}
    for name in ("limited", "budgeted"):
        body = {"name": f"soak-{name}-{uuid.uuid4().hex[:6]}", "scopes": ["cerebra"]}
        async with session.post(f"{url}/api/v1/keys", json=body, headers=headers) as made:
            assert made.status == 201, await made.text()
            doc = await made.json()
        keys[name], keys[f"{name}_id"] = doc["key"], str(doc["id"])
    # a limit lets a minute's worth through at once, then rpm/60 a second: over the soak that admits about
    # rpm * (1 + seconds / 60) of the limited key's requests; aim at LIMITED_RPM_FRACTION of them
    offered = rate * LIMITED_SHARE * seconds
    rpm = max(1, int(offered * LIMITED_RPM_FRACTION / (1 + seconds / 60)))
    limit = {"scope": "key", "scope_id": keys["limited_id"], "rpm": rpm}
    async with session.post(f"{url}/api/v1/rate-limits", json=limit, headers=headers) as made:
        assert made.status == 201, await made.text()
    budget = {"scope": "key", "scope_id": keys["budgeted_id"], "period": "monthly", "limit_usd": "1000"}
    async with session.post(f"{url}/api/v1/budgets", json=budget, headers=headers) as made:
        assert made.status == 201, await made.text()
    return keys


async def _call(
    session: aiohttp.ClientSession, url: str, key: str, who: str, n: int, prefix: str, result: SoakResult
) -> None:
    stream = n % 4 == 0
    headers = {"Authorization": f"Bearer {key}", "X-Request-ID": f"{prefix}-{n}"}
    request: dict = {**BODY, "stream": stream}
    if n % 2:  # the cache on: a deterministic request, cacheable for a minute (hits after the first)
        request["temperature"] = 0
        headers["x-oco-cache-ttl"] = "60"
    started = time.perf_counter()
    try:
        async with session.post(f"{url}/v1/chat/completions", json=request, headers=headers) as response:
            body = await response.read()
            if response.headers.get("x-oco-cache") == "hit":
                result.cache_hits += 1
            if response.status == 200 and stream and b"data: [DONE]" not in body:
                result.errors["stream without [DONE]"] += 1
            result.statuses[who, response.status] += 1
            result.responses += 1
            if response.status not in (200, 429) or (response.status == 429 and who != "limited"):
                result.errors[f"{who} {response.status}"] += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        result.errors[type(exc).__name__] += 1
    result.latencies_ms.append((time.perf_counter() - started) * 1000)


async def _load(
    url: str, keys: dict[str, str], seconds: float, rate: float, service: ServiceProcess
) -> SoakResult:
    result = SoakResult(seconds, rate)
    prefix = result.prefix = f"soak{uuid.uuid4().hex[:8]}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=64)) as session:
        pending: set[asyncio.Task] = set()
        start = time.monotonic()
        next_sample = 0.0
        n = 0
        while (elapsed := time.monotonic() - start) < seconds:
            if elapsed >= next_sample:
                result.rss_kib.append((elapsed, rss_kib(service.process.pid)))
                next_sample += 5.0
            due = start + n / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            who = "limited" if (n % int(1 / LIMITED_SHARE)) == 0 else "budgeted"
            task = asyncio.create_task(_call(session, url, keys[who], who, n, prefix, result))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.gather(*pending)
        result.sent = n
    result.rss_kib.append((time.monotonic() - start, rss_kib(service.process.pid)))
    return result


async def _rows(database_url: str, prefix: str) -> tuple[int, int]:
    database = Database(database_url, pool_size=1)
    try:
        async with database.engine.connect() as conn:
            ids = (
                await conn.execute(
                    sa.select(api_requests.c.request_id).where(api_requests.c.request_id.like(f"{prefix}-%"))
                )
            ).scalars()
            seen = list(ids)
        return len(seen), len(seen) - len(set(seen))
    finally:
        await database.dispose()


async def soak(
    workdir: Path, seconds: float, rate: float, database_url: str | None = None, redis_url: str | None = None
) -> SoakResult:
    """Run the soak; `database_url` defaults to a fresh SQLite file in `workdir`."""
    if database_url is None:
        database_url = f"sqlite+aiosqlite:///{workdir / 'soak.db'}"
        await asyncio.to_thread(migrations.upgrade, database_url)
    env = {"OCO_DATABASE_URL": database_url, "OCO_DATA_DIR": str(workdir / "data")}
    if redis_url:
        env["REDIS_URL"] = redis_url
    admin = await _admin(database_url)
    service = await asyncio.to_thread(start_service, "cerebra", workdir / "run", env, name="-soak")
    try:
        async with aiohttp.ClientSession() as session:
            keys = await _setup(session, service.url, admin, rate, seconds)
        result = await _load(service.url, keys, seconds, rate, service)
        prefix = result.prefix
        deadline = time.monotonic() + 30
        while True:  # the writer flushes every 0.5 s
            result.rows, result.duplicated_rows = await _rows(database_url, prefix)
            if result.rows >= result.responses or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
    finally:
        await asyncio.to_thread(service.stop)
    result.rows, result.duplicated_rows = await _rows(database_url, prefix)
    result.log_tail = service.output()[-3000:]
    return result
