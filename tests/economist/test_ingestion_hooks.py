"""Hooks after an ingestion: every succeeded load of this process calls them once with its record; a hook
that raises is logged and leaves the ingestion succeeded; a failed load calls none."""

from __future__ import annotations

from typing import Any

from economist.app import create_app
from economist.demo import sample_path
from economist.settings import EconomistSettings


async def test_hooks_run_after_each_succeeded_ingestion_only(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    app = create_app(EconomistSettings(_env_file=None, **settings.model_dump()))
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("hooks"), ["economist"])).plaintext
    seen: list[dict[str, Any]] = []

    async def record(ingestion: dict[str, Any]) -> None:
        seen.append(ingestion)

    async def broken(_ingestion: dict[str, Any]) -> None:
        raise RuntimeError("a hook bug")

    app.state.ingestion.after_success.extend([broken, record])
    name = unique("hooks") + ".csv"
    ok = await client.post(
        "/api/v1/ingestions/upload", content=sample_path().read_bytes(), params={"filename": name}
    )
    assert ok.status_code == 201, ok.text
    assert [(s["id"], s["status"]) for s in seen] == [(ok.json()["id"], "succeeded")]

    bad = await client.post(
        "/api/v1/ingestions/upload",
        content=b"BilledCost\n12,5O\n",
        params={"filename": unique("bad") + ".csv"},
    )
    assert bad.status_code == 400, bad.text
    assert len(seen) == 1
