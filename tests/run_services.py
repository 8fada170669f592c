"""Run the services the way `make run` does (`python -m oco.cli run ...` in a working directory of its own,
with the embedded defaults a new user gets), on free ports, and stop them again: a test helper."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("cerebra", "economist", "aegis")
DEFAULT_PORTS = {"cerebra": 8080, "economist": 8081, "aegis": 8082}
#: variables a new user has not set: their absence selects SQLite in ./data, the in-process cache and the
#: built-in route table (the suite's OCO_TEST_* PostgreSQL/Redis are deliberately ignored here)
CLEARED_PREFIXES = ("OCO_", "POSTGRES_", "REDIS_", "OPENAI_", "ANTHROPIC_", "GEMINI_")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def new_user_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OCO/PostgreSQL/Redis/provider setting, importing this
    checkout's code (PYTHONPATH starts with the repository), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


@dataclass
class RunningServices:
    """Services started by `oco run`: their ports, working directory and captured output."""

    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    cwd: Path
    stdout_path: Path
    stderr_path: Path

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def output(self, tail_lines: int = 40) -> str:
        """What `oco run` printed so far (stderr: its last lines), for failure messages."""
        out = self.stdout_path.read_text(errors="replace")
        lines = self.stderr_path.read_text(errors="replace").splitlines()
        err = [line for line in lines if "alembic.runtime.plugins" not in line][-tail_lines:]
        return (
            f"--- oco run stdout ---\n{out}\n--- oco run stderr (last {tail_lines} lines) ---\n"
            + "\n".join(err)
        )


def oco_command() -> list[str]:
    """How to call `oco` with this interpreter: `python -m oco.cli` (what `.venv/bin/oco` runs)."""
    return [sys.executable, "-m", "oco.cli"]


@contextmanager
def run_services(cwd: Path, target: str = "all", logs: Path | None = None) -> Iterator[RunningServices]:
    """Start `oco run <target>` in `cwd` on free ports (OCO_<SERVICE>_PORT), wait until every started
    service answers /healthz, and stop them on exit (SIGTERM, then SIGKILL of the whole process group)."""
    names = list(SERVICES) if target == "all" else [target]
    ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
    env = new_user_env({f"OCO_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    logs = logs or cwd.parent
    stdout_path, stderr_path = logs / f"oco-run-{target}.out", logs / f"oco-run-{target}.err"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*oco_command(), "run", target], cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
    running = RunningServices(process, {n: ports[n] for n in names}, cwd, stdout_path, stderr_path)
    try:
        _wait_ready(running)
        yield running
    finally:
        _stop(process)


def _wait_ready(running: RunningServices) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(running.ports)
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            if running.process.poll() is not None:
                raise AssertionError(
                    f"`oco run` exited with {running.process.returncode} before serving\n{running.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{waiting} not ready within {READY_TIMEOUT_S:.0f} s\n{running.output()}"
                )
            try:
                if client.get(f"{running.url(waiting[0])}/healthz").status_code == 200:
                    waiting.pop(0)
                    continue
            except httpx.TransportError:
                pass
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # `oco run all` passes it on to each service
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    with suppress(ProcessLookupError):  # anything left in the group (a service that outlived its parent)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
