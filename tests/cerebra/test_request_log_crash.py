"""`kill -9` of cerebra under load loses no request-log row: every response the client received has exactly
one row once cerebra is back (rows of requests whose response never arrived are allowed, and reported)."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.cerebra.crash_harness import Load, duplicates, logged_ids, start_cerebra

LOAD_BEFORE_KILL = 600  # responses received before the kill
CATCH_UP_S = 60.0


def service_env(redis_url: str | None, spool: bool) -> dict[str, str]:
    env = {"OCO_WRITER_SPOOL": "true" if spool else "false"}  # the writer's defaults: 0.5 s, 500 rows
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def kill_under_load(
    tmp_path, database_url, redis_url, key, *, spool: bool, catch_up_s: float = CATCH_UP_S
) -> tuple[Load, int, int]:  # type: ignore[no-untyped-def]
    """Drive load, SIGKILL cerebra mid-load, restart it on the same data directory; returns the load,
    the rows stored at the moment of the kill and the cerebra pid that was killed."""
    from oco.db import Database

    data = tmp_path / "data"
    env = service_env(redis_url, spool)
    first = start_cerebra(data, database_url, env)
    load = Load(first.url, key, prefix=f"crash{uuid.uuid4().hex[:10]}").start()
    database = Database(database_url, pool_size=2)
    try:
        deadline = time.monotonic() + 120
        while load.count() < LOAD_BEFORE_KILL:
            assert time.monotonic() < deadline, f"load too slow: {load.count()} responses\n{first.output()}"
            await asyncio.sleep(0.05)
        first.kill()  # mid-load: requests are in flight on every thread
        load.stop()
        stored_at_kill = len(await logged_ids(database, load.prefix))
        second = start_cerebra(data, database_url, env)
        try:
            deadline = time.monotonic() + catch_up_s
            while set(await logged_ids(database, load.prefix)) < load.received:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            second.stop()
        return load, stored_at_kill, first.process.pid
    finally:
        await database.dispose()


async def test_kill_9_under_load_loses_no_row(
    tmp_path, database, database_url, redis_url, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    load, stored_at_kill, _ = await kill_under_load(
        tmp_path, database_url, redis_url, cerebra_key, spool=True
    )
    ids = await logged_ids(database, load.prefix)
    received = load.received
    lost = received - set(ids)
    extra = set(ids) - received  # requests whose response the client never got (allowed)
    print(
        f"\nkill -9 under load: {len(received)} responses received, {stored_at_kill} rows stored at the kill, "
        f"{len(ids)} rows after restart: {len(lost)} lost, {len(extra)} for responses never received, "
        f"{len(duplicates(ids))} duplicated"
    )
    # some rows were committed before the kill (the replay must skip them), some were not (it must add them)
    assert 0 < stored_at_kill < len(received), "the kill did not cut between commits: the test proves nothing"
    assert not lost, f"{len(lost)} rows lost, e.g. {sorted(lost)[:5]}"
    assert not duplicates(ids)
    assert extra <= set(load.failed), "a row for a request that was never sent"
    assert not list((tmp_path / "data" / "spool").glob("*.jsonl")), (
        "the replayed spool files were not removed"
    )


async def test_without_the_spool_the_same_kill_loses_rows(
    tmp_path, database, database_url, redis_url, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    """The control: what the test above guards against really happens when OCO_WRITER_SPOOL=false."""
    load, stored_at_kill, _ = await kill_under_load(
        tmp_path, database_url, redis_url, cerebra_key, spool=False, catch_up_s=3
    )
    ids = await logged_ids(database, load.prefix)
    lost = load.received - set(ids)
    print(f"\nwithout the spool: {len(load.received)} responses, {len(lost)} rows lost")
    assert lost
