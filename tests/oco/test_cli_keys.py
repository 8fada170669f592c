"""`oco keys list` through the real command on the test database: the table fits 80 columns however long
the names are, and `--json` prints the keys' metadata (never a hash) and nothing else."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from oco.auth import KeyStore
from oco.cli import app
from oco.db import Database
from oco.settings import get_settings


@pytest.fixture
def cli_env(database_url, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OCO_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def make_keys(url: str, name: str) -> list[int]:
    async def run() -> list[int]:
        database = Database(url, pool_size=1)
        try:
            store = KeyStore(database)
            long = await store.create(
                name + " for the nightly billing exporter of the platform team",
                ["cerebra", "economist", "aegis", "admin"],
                team="platform-engineering-and-finops",
                expires_in=timedelta(days=30),
            )
            short = await store.create(name + "-b", ["aegis"])
            await store.revoke(short.id)
            return [long.id, short.id]
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_keys_list_fits_80_columns(cli_env, database_url, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("k")
    long_id, short_id = make_keys(database_url, name)
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["keys", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["id", "name", "prefix", "scopes", "team", "status", "expires", "last", "used"]
    long_row = next(line for line in lines if line.split()[0] == str(long_id))
    assert name[:4] in long_row and "…" in long_row and "active" in long_row and "never" in long_row
    short_row = next(line for line in lines if line.split()[0] == str(short_id))
    assert "revoked" in short_row and "aegis" in short_row


def test_keys_list_json(cli_env, database_url, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("k")
    long_id, short_id = make_keys(database_url, name)
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["keys", "list", "--json"])
    assert result.exit_code == 0, result.output
    keys = {k["id"]: k for k in json.loads(result.stdout)}
    assert keys[long_id]["scopes"] == ["cerebra", "economist", "aegis", "admin"]
    assert keys[long_id]["team"] == "platform-engineering-and-finops" and keys[long_id]["expires_at"]
    assert keys[short_id]["name"] == name + "-b" and keys[short_id]["revoked_at"]
    assert all("key_hash" not in k for k in keys.values())
