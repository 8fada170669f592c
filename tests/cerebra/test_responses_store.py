"""The stored-responses repository on the test database (SQLite or PostgreSQL): written in batches off the
request path yet found at once, scoped to a key, deleted for good even before its row landed, expired
ones never served and purged."""

from __future__ import annotations

from datetime import timedelta

from cerebra.dialects.responses.store import ResponseStore
from oco.timeutil import utcnow
from tests.conftest import table_rows


def response(response_id: str) -> dict:
    return {
        "id": response_id,
        "object": "response",
        "model": "m",
        "output": [{"type": "message", "role": "assistant"}],
    }


async def test_save_get_delete_and_purge(database, unique) -> None:  # type: ignore[no-untyped-def]
    store = ResponseStore(database, ttl_days=1, flush_interval_s=0.01)
    store.start()
    try:
        kept, gone, old = unique("resp_kept"), unique("resp_gone"), unique("resp_old")
        store.save(store.record(response(kept), 1, [{"role": "user", "content": "hi"}], "d#0"))
        store.save(store.record(response(gone), 1, [], None))
        expired = store.record(response(old), 1, [], None)
        expired.expires_at = utcnow() - timedelta(seconds=1)
        store.save(expired)
        found = await store.get(kept, 1)  # straight from memory, before the batch is written
        assert found is not None and found.conversation()[0]["content"] == "hi"
        assert found.conversation()[1]["role"] == "assistant"
        assert await store.get(kept, 2) is None  # another key
        assert await store.get(old, 1) is None  # expired
        assert await store.delete(gone, 1) is True  # deleted while its insert may still be queued
        assert await store.delete(gone, 1) is False
        await store.writer.flush()
        store._recent.clear()  # what another replica sees: the database only
        from_db = await store.get(kept, 1)
        assert from_db is not None and from_db.deployment_id == "d#0" and from_db.response == response(kept)
        assert await store.get(gone, 1) is None
        assert await store.purge() >= 1
        ids = {row["id"] for row in await table_rows(database, "cerebra_responses")}
        assert kept in ids and gone not in ids and old not in ids
    finally:
        await store.close()
