"""Settings: database URL precedence and the one clear error for PostgreSQL without a password."""

from __future__ import annotations

import subprocess
import sys

import pytest

from oco.settings import PlatformSettings, SettingsError


def test_postgres_without_password_is_one_clear_error() -> None:
    settings = PlatformSettings(_env_file=None, postgres_host="db.internal")
    with pytest.raises(SettingsError, match="POSTGRES_PASSWORD is required"):
        _ = settings.database_url


def test_precedence_and_quoting() -> None:
    assert PlatformSettings(_env_file=None).database_url.startswith("sqlite+aiosqlite:///")
    pg = PlatformSettings(
        _env_file=None, postgres_host="db", postgres_password="p@ss/word", postgres_user="u"
    )
    assert pg.database_url == "postgresql+asyncpg://u:p%40ss%2Fword@db:5432/opencloudops"
    explicit = PlatformSettings(
        _env_file=None, oco_database_url="sqlite+aiosqlite:///x.db", postgres_host="db"
    )
    assert explicit.database_url == "sqlite+aiosqlite:///x.db"
    assert "p@ss" not in repr(pg)


def test_cli_start_fails_with_one_line_naming_the_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_HOST": "127.0.0.1", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "oco.cli", "db", "current"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "POSTGRES_PASSWORD is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_redis_selection() -> None:
    assert PlatformSettings(_env_file=None).resolved_redis_url is None
    assert PlatformSettings(_env_file=None, redis_host="r").resolved_redis_url == "redis://r:6379/0"
