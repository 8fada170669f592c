"""Measuring what a fault may leave behind in an in-process cerebra: the process's ESTABLISHED TCP
connections to a given port (from /proc/net/tcp, limited to this process's sockets) and the number of
asyncio tasks alive on the served app's event loop."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

ESTABLISHED = "01"


def _own_socket_inodes() -> set[str]:
    inodes: set[str] = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def established_to(port: int) -> int:
    """This process's ESTABLISHED TCP connections whose remote end is 127.0.0.1:`port` (or ::1)."""
    own = _own_socket_inodes()
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == ESTABLISHED and int(remote.rsplit(":", 1)[1], 16) == port and inode in own:
                count += 1
    return count


def served_loop(served) -> asyncio.AbstractEventLoop:  # type: ignore[no-untyped-def]
    """The event loop of a `ServedApp` (uvicorn in a thread)."""
    return served.server.servers[0].get_loop()


def task_count(loop: asyncio.AbstractEventLoop) -> int:
    """asyncio tasks alive on `loop`, not counting the probe itself (asked from inside the loop)."""

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1

    return asyncio.run_coroutine_threadsafe(count(), loop).result(10)


def settle(measure: Callable[[], int], limit: int, timeout_s: float = 5.0) -> int:
    """Poll `measure` until it is at most `limit` or the timeout passes; the last value."""
    deadline = time.monotonic() + timeout_s
    value = measure()
    while value > limit and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return value
