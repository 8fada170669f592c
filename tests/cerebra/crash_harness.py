"""Test helpers for crash and outage tests: cerebra as a real subprocess (`python -m cerebra`), SDK load
that records which responses the client fully received, and the request log rows those requests left."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import sqlalchemy as sa

from cerebra.analytics.tables import api_requests
from oco.db import Database
from tests.run_services import free_ports, new_user_env

READY_TIMEOUT_S = 60.0


@dataclass
class CerebraProcess:
    """One `python -m cerebra` on a loopback port, its output in `log`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no buffer is flushed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(40)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def start_cerebra(data_dir: Path, database_url: str, env: Mapping[str, str] | None = None) -> CerebraProcess:
    """Start cerebra on a free port with the built-in route table (`demo` on the mock provider) and wait
    until /healthz answers."""
    [port] = free_ports(1)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"cerebra-{port}.log"
    values = new_user_env({"OCO_DATABASE_URL": database_url, "OCO_DATA_DIR": str(data_dir), **(env or {})})
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cerebra", "--port", str(port)],
            cwd=data_dir.parent,
            env=values,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = CerebraProcess(process, port, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise AssertionError(f"cerebra exited with {process.returncode}\n{running.output()}")
        if time.monotonic() > deadline:
            running.stop()
            raise AssertionError(f"cerebra not ready in {READY_TIMEOUT_S:.0f} s\n{running.output()}")
        with suppress(httpx.TransportError):
            if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                return running
        time.sleep(0.05)


@dataclass
class Load:
    """Threads calling chat completions (JSON and streamed) with the official SDK, each request with its
    own X-Request-ID; `received` holds the ids whose complete response the client got."""

    base_url: str
    key: str
    prefix: str
    threads: int = 6
    received: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # id -> exception type
    statuses: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def _run(self, thread: int) -> None:
        client = openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.key, max_retries=0, timeout=10)
        n = 0
        while not self._stop.is_set():
            n += 1
            request_id = f"{self.prefix}-{thread}-{n}"
            stream = n % 4 == 0
            try:
                if stream:
                    chunks = client.chat.completions.create(
                        model="demo",
                        messages=[{"role": "user", "content": f"stream {n}"}],
                        stream=True,
                        extra_headers={"X-Request-ID": request_id},
                    )
                    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
                    assert finish and finish[-1] == "stop", finish
                else:
                    reply = client.chat.completions.create(
                        model="demo",
                        messages=[{"role": "user", "content": f"hello {n}"}],
                        extra_headers={"X-Request-ID": request_id},
                    )
                    assert reply.choices[0].message.content
                with self._lock:
                    self.received.add(request_id)
                    self.statuses[200] = self.statuses.get(200, 0) + 1
            except openai.APIStatusError as exc:  # an answer, but not a success
                with self._lock:
                    self.failed[request_id] = f"status {exc.status_code}"
                    self.statuses[exc.status_code] = self.statuses.get(exc.status_code, 0) + 1
            except Exception as exc:  # noqa: BLE001 - connection refused/reset: the response never came
                with self._lock:
                    self.failed[request_id] = type(exc).__name__
                time.sleep(0.02)
        client.close()


async def logged_ids(database: Database, prefix: str) -> list[str]:
    """request_id of every api_requests row whose id starts with `prefix` (duplicates kept)."""
    async with database.engine.connect() as conn:
        result = await conn.execute(
            sa.select(api_requests.c.request_id).where(api_requests.c.request_id.like(f"{prefix}-%"))
        )
        return [row[0] for row in result.all()]


def duplicates(ids: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for request_id in ids:
        (twice if request_id in seen else seen).add(request_id)
    return twice
