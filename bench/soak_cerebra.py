"""Bounded soak of cerebra (run by hand, never in `make test`): `python -m cerebra` on the built-in mock
route with request logging (spool on), a rate-limited key (429s expected) and a budgeted key, at a steady
open-loop rate for a few minutes; prints RSS from start to end, statuses, latency and logged rows against
responses (tests/cerebra/soak.py does the work).

    .venv/bin/python bench/soak_cerebra.py                      # 180 s at 50 req/s on SQLite
    SOAK_SECONDS=120 SOAK_RATE=80 .venv/bin/python bench/soak_cerebra.py
    SOAK_DATABASE_URL=postgresql+asyncpg://... SOAK_REDIS_URL=redis://... .venv/bin/python bench/soak_cerebra.py

Targets (not timed assertions): no error beyond the limited key's 429s, rows = responses (0 lost, 0
duplicated), RSS at the end within 20% of RSS after the first 10 s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cerebra.soak import soak  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
RATE = float(os.environ.get("SOAK_RATE", "50"))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="oco-soak-") as tmp:
        result = asyncio.run(
            soak(
                Path(tmp),
                SECONDS,
                RATE,
                database_url=os.environ.get("SOAK_DATABASE_URL") or None,
                redis_url=os.environ.get("SOAK_REDIS_URL") or None,
            )
        )
    rss = result.rss_kib
    warm = next((kib for t, kib in rss if t >= 10), rss[0][1])
    lat = sorted(result.latencies_ms)
    print(f"soak: {result.seconds:.0f} s at {result.rate:.0f} req/s offered")
    print("| measure | value |\n|---|---|")
    print(f"| requests sent / responses | {result.sent} / {result.responses} |")
    for (who, status), n in sorted(result.statuses.items()):
        print(f"| {who} key, status {status} | {n} |")
    print(f"| response-cache hits | {result.cache_hits} |")
    print(f"| errors (beyond the limited key's 429s) | {sum(result.errors.values())} {dict(result.errors)} |")
    print(
        f"| request-log rows / responses | {result.rows} / {result.responses} ({result.duplicated_rows} duplicated) |"
    )
    print(f"| latency p50 / p99 ms | {statistics.median(lat):.1f} / {lat[int(len(lat) * 0.99) - 1]:.1f} |")
    print(
        f"| cerebra RSS start / after 10 s / end (MiB) | {rss[0][1] / 1024:.1f} / {warm / 1024:.1f} / {rss[-1][1] / 1024:.1f} |"
    )
    print("RSS samples (s, MiB): " + ", ".join(f"{t:.0f}:{kib / 1024:.1f}" for t, kib in rss))
    ok = (
        not result.errors
        and result.sent == result.responses
        and result.rows == result.responses
        and not result.duplicated_rows
    )
    ok = ok and rss[-1][1] <= warm * 1.2
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
