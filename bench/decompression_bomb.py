"""Memory a decompression bomb costs economist (issue #16, finding 5): serve economist with uvicorn on
loopback (embedded SQLite), upload a small .csv.gz that expands to one line of S MB, and report the
ingestion's answer and the process's RSS before, at its peak and after. Run:
`python bench/decompression_bomb.py [--mb 200]`. Floor: RSS before; target: peak - before bounded by
OCO_ECONOMIST_MAX_LINE_BYTES (32 MiB by default), not by the line's size."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import subprocess
import sys
import tempfile
import time

import httpx

from bench.unauthenticated_bodies import free_port, rss_mb

HEADER = (
    "ProviderName,BillingAccountId,SubAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
    "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ServiceName,RegionId,ResourceId,BilledCost,"
    "EffectiveCost,ListCost,ContractedCost,Tags"
)


def bomb(mb: int) -> bytes:
    compressor = gzip.compress(HEADER.encode() + b"\n" + b"A" * (mb << 20), compresslevel=9)
    return compressor


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    payload = bomb(args.mb)
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "OCO_DATA_DIR": data, "OCO_LOG_LEVEL": "WARNING"}
        env.pop("OCO_DATABASE_URL", None)
        proc = subprocess.Popen([sys.executable, "-m", "economist", "--port", str(port)], env=env)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            from oco.auth import KeyStore
            from oco.db import Database

            database = Database(f"sqlite+aiosqlite:///{data}/oco.db")
            key = (await KeyStore(database).create("bench", ["economist"])).plaintext
            await database.dispose()
            before = peak = rss_mb(proc.pid)
            async with httpx.AsyncClient(timeout=600) as client:
                task = asyncio.ensure_future(
                    client.post(
                        base + "/api/v1/ingestions/upload",
                        content=payload,
                        params={"filename": "bomb.csv.gz"},
                        headers={"X-API-Key": key},
                    )
                )
                while not task.done():
                    peak = max(peak, rss_mb(proc.pid))
                    await asyncio.sleep(0.02)
                response = task.result()
            await asyncio.sleep(0.5)
            after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    reason = response.json().get("error", {}).get("message", "")[:90] if response.status_code >= 400 else ""
    print("| upload | expands to | status | reason | RSS before | peak | after |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {len(payload) // 1024} KB .csv.gz | one {args.mb} MB line | {response.status_code} | {reason} |"
        f" {before:.0f} MB | {peak:.0f} MB | {after:.0f} MB |"
    )


if __name__ == "__main__":
    asyncio.run(main())
