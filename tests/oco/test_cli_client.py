"""The CLIs' shared client (oco/cli_client.py): the API key comes from --api-key, else OCO_API_KEY, else
the quick start's <OCO_DATA_DIR>/admin.key; a 401 names the source used and those tried, never the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from oco.app import make_service_app
from oco.cli_client import ServiceClient, resolve_api_key
from tests.oco.loopback import served


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OCO_API_KEY", raising=False)
    monkeypatch.setenv("OCO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return tmp_path / "data"


def test_the_option_wins_then_the_environment_then_the_key_file(data_dir, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    nothing = resolve_api_key(None)
    assert nothing.value is None and nothing.source is None
    assert nothing.tried_text() == (
        f"--api-key: not given, OCO_API_KEY: not set, {data_dir / 'admin.key'}: not found"
    )

    data_dir.mkdir()
    (data_dir / "admin.key").write_text("oco_from_file\n")
    from_file = resolve_api_key(None)
    assert (from_file.value, from_file.source) == ("oco_from_file", str(data_dir / "admin.key"))
    assert from_file.tried_text().endswith("admin.key: found")

    monkeypatch.setenv("OCO_API_KEY", "oco_from_env")
    from_env = resolve_api_key(None)
    assert (from_env.value, from_env.source) == ("oco_from_env", "OCO_API_KEY")
    assert from_env.tried_text() == "--api-key: not given, OCO_API_KEY: set"

    given = resolve_api_key("oco_given")
    assert (given.value, given.source, given.tried_text()) == ("oco_given", "--api-key", "--api-key: given")
    assert "oco_given" not in repr(given)


def test_an_empty_key_file_is_reported_and_no_request_is_made(data_dir, capsys) -> None:  # type: ignore[no-untyped-def]
    data_dir.mkdir()
    (data_dir / "admin.key").write_text("\n")
    with pytest.raises(typer.Exit) as exited:
        ServiceClient("test", "http://127.0.0.1:9", None)
    assert exited.value.exit_code == 2
    message = capsys.readouterr().err
    assert "no API key for test" in message and "admin.key: empty" in message


async def test_a_refused_key_names_where_it_came_from(  # type: ignore[no-untyped-def]
    settings, keystore, unique, data_dir, monkeypatch, capsys
) -> None:
    good = (await keystore.create(unique("cli"), ["economist"])).plaintext
    data_dir.mkdir()
    (data_dir / "admin.key").write_text("oco_" + "x" * 43 + "\n")
    with served(make_service_app("test", "economist", settings=settings)) as url:
        with pytest.raises(typer.Exit) as exited, ServiceClient("test", url, None) as client:
            client.call("GET", "/api/v1/whoami")
        assert exited.value.exit_code == 1
        message = " ".join(capsys.readouterr().err.split())
        assert message == (
            f"error: 401 from {url}: the API key from {data_dir / 'admin.key'} was refused (tried "
            f"--api-key: not given, OCO_API_KEY: not set, {data_dir / 'admin.key'}: found)"
        )
        assert "x" * 10 not in message

        monkeypatch.setenv("OCO_API_KEY", good)
        with ServiceClient("test", url, None) as client:
            assert client.call("GET", "/api/v1/whoami")["scopes"] == ["economist"]
        with pytest.raises(typer.Exit), ServiceClient("test", url, "oco_wrong") as client:
            client.call("GET", "/api/v1/whoami")
        assert "the API key from --api-key was refused (tried --api-key: given)" in capsys.readouterr().err
