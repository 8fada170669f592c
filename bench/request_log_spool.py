"""Request-log spool benchmark: CPU cost per request of appending each row to the local spool file, with vs
without the spool in the same run.

1. enqueue: `BufferedWriter.enqueue` of a real `api_requests` row (CallContext.log_row()), spool on vs off,
   CPU µs per row (process time), median of rounds.
2. end to end: two `python -m cerebra` (embedded SQLite, built-in mock route), OCO_WRITER_SPOOL=true vs
   false, the same chat-completion load against each in alternating rounds; CPU µs of the cerebra process
   per request (utime+stime from /proc), median of rounds.

    .venv/bin/python bench/request_log_spool.py
    BENCH_ROUNDS=7 BENCH_REQUESTS=3000 .venv/bin/python bench/request_log_spool.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cerebra.analytics.tables import api_requests  # noqa: E402
from cerebra.gateway.context import CallContext  # noqa: E402
from cerebra.providers import Usage  # noqa: E402
from oco import migrations  # noqa: E402
from oco.auth import KeyStore  # noqa: E402
from oco.db import Database  # noqa: E402
from oco.spool import RowSpool  # noqa: E402
from oco.writer import BufferedWriter  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
ROWS = int(os.environ.get("BENCH_ROWS", "20000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
BODY = {"model": "demo", "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}


def sample_row(n: int) -> dict:
    ctx = CallContext(request_id=f"bench-{n:012d}", endpoint="chat/completions", alias="demo")
    ctx.provider, ctx.model, ctx.attempts, ctx.stream = "mock", "oco-mock", 1, False
    ctx.usage = Usage(prompt_tokens=12, completion_tokens=20)
    ctx.team_id, ctx.overhead_us = "team-a", 180
    ctx.cost = Decimal("0.000042")
    return ctx.log_row()


async def enqueue_cost(spooled: bool, directory: Path, database: Database) -> float:
    """CPU µs per enqueue of ROWS rows (the worker never runs: only the request path is measured)."""
    spool = RowSpool(directory, api_requests.name) if spooled else None
    writer = BufferedWriter(
        database, api_requests, queue_size=ROWS + 1, spool=spool, spool_key=("request_id", "created_at")
    )
    if spool is not None:
        spool.open()
    rows = [sample_row(n) for n in range(ROWS)]
    started = time.process_time()
    for row in rows:
        writer.enqueue(row)
    spent = time.process_time() - started
    if spool is not None:
        spool.settled(ROWS)
        spool.close()
    return spent / ROWS * 1e6


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_cerebra(work: Path, url: str, spooled: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    data = work / ("data-spool" if spooled else "data-plain")
    data.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OCO_", "POSTGRES_", "REDIS_", "OPENAI_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        OCO_DATABASE_URL=url,
        OCO_DATA_DIR=str(data),
        OCO_WRITER_SPOOL="true" if spooled else "false",
        OCO_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerebra", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


async def wait_ready(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("cerebra did not start")


async def drive(port: int, key: str, count: int) -> None:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {key}"}
    left = [count]
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                async with session.post(url, json=BODY, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def end_to_end(work: Path) -> dict[bool, list[float]]:
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    await asyncio.to_thread(migrations.upgrade, url)
    database = Database(url)
    key = (await KeyStore(database).create("bench", ["cerebra"])).plaintext
    await database.dispose()
    procs = {spooled: start_cerebra(work, url, spooled) for spooled in (True, False)}
    results: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _, port in procs.values():
            await wait_ready(port)
            await drive(port, key, 300)  # warm-up
        for n in range(ROUNDS):
            for spooled in (True, False) if n % 2 else (False, True):  # ABBA: neither goes first each time
                proc, port = procs[spooled]
                before = cpu_seconds(proc.pid)
                await drive(port, key, REQUESTS)
                await asyncio.sleep(1.0)  # the writer's batch of this round is committed inside the window
                results[spooled].append((cpu_seconds(proc.pid) - before) / REQUESTS * 1e6)
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(30)
    return results


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = f"sqlite+aiosqlite:///{work / 'enqueue.db'}"
        database = Database(url)
        enqueue: dict[bool, list[float]] = {True: [], False: []}
        for n in range(ROUNDS):
            for spooled in (True, False):
                enqueue[spooled].append(await enqueue_cost(spooled, work / f"spool-{n}", database))
        await database.dispose()
        e2e = await end_to_end(work)
    on, off = statistics.median(enqueue[True]), statistics.median(enqueue[False])
    print(f"\nrequest-log spool, {ROUNDS} rounds (medians; CPU time)")
    print(f"{'measure':46s} {'spool off':>10s} {'spool on':>10s} {'cost':>10s}")
    print(
        f"{'enqueue of one row, µs (' + str(ROWS) + ' rows a round)':46s} {off:10.2f} {on:10.2f} {on - off:10.2f}"
    )
    e_on, e_off = statistics.median(e2e[True]), statistics.median(e2e[False])
    label = f"cerebra CPU per request, µs ({REQUESTS} req, c={CONCURRENCY})"
    print(f"{label:46s} {e_off:10.1f} {e_on:10.1f} {e_on - e_off:10.1f}")
    print(f"ratio spool on / off, end to end: {e_on / e_off:.3f}")
    print(f"end-to-end rounds, off: {[round(v) for v in e2e[False]]}, on: {[round(v) for v in e2e[True]]}")


if __name__ == "__main__":
    asyncio.run(main())
