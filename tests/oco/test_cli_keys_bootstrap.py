"""`oco keys bootstrap --out PATH` (the compose `migrate` step): on a database with no key it writes one
working admin key to the file (mode 0600); run again, or on a database that has keys, it creates nothing."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oco import migrations
from oco.auth import KeyStore
from oco.cli import app
from oco.db import Database
from oco.settings import get_settings


@pytest.fixture
def empty_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated SQLite database with no key (the session database always has keys)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    migrations.upgrade(url)
    monkeypatch.setenv("OCO_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def key_rows(url: str) -> list[dict]:
    async def run() -> list[dict]:
        database = Database(url, pool_size=1)
        try:
            return await KeyStore(database).list()
        finally:
            await database.dispose()

    return asyncio.run(run())


def verify(url: str, plaintext: str) -> set[str]:
    async def run() -> set[str]:
        database = Database(url, pool_size=1)
        try:
            principal = await KeyStore(database).verify(plaintext)
            return set(principal.scopes) if principal else set()
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_bootstrap_writes_one_admin_key_once(empty_database: str, tmp_path: Path) -> None:
    out = tmp_path / "volume" / "admin.key"
    first = CliRunner().invoke(app, ["keys", "bootstrap", "--out", str(out)])
    assert first.exit_code == 0, first.output
    plaintext = out.read_text().strip()
    assert plaintext.startswith("oco_")
    assert plaintext not in first.output, "the key goes to the file only, never to the output"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert verify(empty_database, plaintext) == {"admin"}

    again = CliRunner().invoke(app, ["keys", "bootstrap", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "already has keys" in again.output
    assert out.read_text().strip() == plaintext
    assert len(key_rows(empty_database)) == 1


def test_bootstrap_creates_nothing_when_keys_exist(empty_database: str, tmp_path: Path) -> None:
    created = CliRunner().invoke(app, ["keys", "create", "--name", "ops", "--scope", "economist"])
    assert created.exit_code == 0, created.output
    out = tmp_path / "admin.key"
    result = CliRunner().invoke(app, ["keys", "bootstrap", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert [row["name"] for row in key_rows(empty_database)] == ["ops"]
