"""Economist's start-up line: the database back end (never the URL), the ledger's size, the ingest folders."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from economist.app import create_app
from economist.demo.service import load_sample
from economist.settings import EconomistSettings


def fresh_settings(tmp_path: Path, **values: object) -> EconomistSettings:
    """Settings on a database of its own, so the ledger's size is known."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    return EconomistSettings(_env_file=None, oco_database_url=url, oco_data_dir=tmp_path, **values)


def serving_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("economist serves ")]


async def test_an_empty_ledger_is_named_with_the_command_that_fills_it(
    tmp_path: Path, serve_app: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await serve_app(create_app(fresh_settings(tmp_path)))
    [line] = serving_lines(caplog)
    message = line.getMessage()
    assert "(database sqlite, kv memory); empty ledger (try: oco demo load); ingest dirs: none" in message
    assert "ledger.db" not in message and "sqlite+aiosqlite" not in message  # the back end, never the URL
    assert line.fields["database"] == "sqlite" and line.fields["ledger_rows"] == 0  # type: ignore[attr-defined]


async def test_a_loaded_ledger_is_counted_and_the_ingest_dirs_listed(
    tmp_path: Path, serve_app: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    allowed = tmp_path / "billing"
    allowed.mkdir()
    settings = fresh_settings(tmp_path, oco_economist_ingest_dirs=str(allowed))
    loaded = await load_sample(settings)
    with caplog.at_level(logging.INFO):
        await serve_app(create_app(settings))
    [line] = serving_lines(caplog)
    assert f"ledger {loaded.rows:,} rows; ingest dirs: {allowed.resolve()}" in line.getMessage()
    assert line.fields["ledger_rows"] == loaded.rows > 0  # type: ignore[attr-defined]
    assert line.fields["ingest_dirs"] == [str(allowed.resolve())]  # type: ignore[attr-defined]


async def test_the_back_end_is_named_not_its_url(
    tmp_path: Path, serve_app: Callable, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    """On the suite's database (PostgreSQL in CI): the dialect's name only."""
    settings = EconomistSettings(_env_file=None, oco_database_url=database_url, oco_data_dir=tmp_path)
    with caplog.at_level(logging.INFO):
        await serve_app(create_app(settings))
    [line] = serving_lines(caplog)
    dialect = database_url.split("+")[0].split(":")[0]
    assert f"(database {dialect}, kv " in line.getMessage() and "://" not in line.getMessage()
