"""A service as a real subprocess (`python -m <service> --port P`) for crash and leak tests: started with
the environment a test gives it (nothing inherited from the suite's OCO_* settings), killed with SIGKILL or
stopped with SIGTERM; its combined output kept in a file the test can read (and grep)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.run_services import free_ports, new_user_env

READY_TIMEOUT_S = 60.0


@dataclass
class ServiceProcess:
    """One `python -m <service>` on a loopback port, its stdout+stderr in `log`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
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
        return self.log.read_text(errors="replace")


def start_service(service: str, workdir: Path, env: dict[str, str], *, name: str = "") -> ServiceProcess:
    """Start `python -m <service>` in `workdir` on a free port and wait until /healthz answers."""
    [port] = free_ports(1)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{service}{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", service, "--port", str(port)],
            cwd=workdir,
            env=new_user_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = ServiceProcess(process, port, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{service} exited with {process.returncode}\n{running.output()[-6000:]}")
        if time.monotonic() > deadline:
            running.stop()
            raise AssertionError(
                f"{service} not ready in {READY_TIMEOUT_S:.0f} s\n{running.output()[-6000:]}"
            )
        with suppress(httpx.TransportError):
            if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                return running
        time.sleep(0.05)
