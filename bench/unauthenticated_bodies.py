"""Memory a caller WITHOUT a key can make a service spend (issue #16, finding 2): serve a service with
uvicorn on loopback, send N parallel bodies of S MB with no key, and report the process's RSS before,
at its peak while they are sent, and after. Run: `python bench/unauthenticated_bodies.py [service]`.
The floor is the same service with no request at all (RSS before); the target is peak / before ~ 1."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PATHS = {"aegis": "/api/v1/storage-locations", "economist": "/api/v1/budgets"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def send(url: str, size: int) -> int:
    # valid JSON so a service that parses before checking the key really parses it
    body = b'{"name": "' + b"x" * (size - 20) + b'", "type": "local"}'
    async with httpx.AsyncClient(timeout=120) as client:
        response = await client.post(url, content=body, headers={"content-type": "application/json"})
    return response.status_code


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", nargs="?", default="aegis", choices=sorted(PATHS))
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "OCO_DATA_DIR": data, "OCO_LOG_LEVEL": "WARNING"}
        env.pop("OCO_DATABASE_URL", None)
        proc = subprocess.Popen([sys.executable, "-m", args.service, "--port", str(port)], env=env)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            before = rss_mb(proc.pid)
            peak = before
            task = asyncio.gather(
                *(send(base + PATHS[args.service], args.mb << 20) for _ in range(args.parallel))
            )
            while not task.done():
                peak = max(peak, rss_mb(proc.pid))
                await asyncio.sleep(0.02)
            statuses = await task
            await asyncio.sleep(0.5)
            after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    print("| service | bodies | statuses | RSS before | peak | after | peak / before |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.service} | {args.parallel} x {args.mb} MB, no key | {sorted(set(statuses))} | {before:.0f} MB"
        f" | {peak:.0f} MB | {after:.0f} MB | {peak / before:.2f} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
