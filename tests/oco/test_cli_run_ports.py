"""`oco run` ports: 8080/8081/8082 by default, OCO_CEREBRA_PORT / OCO_ECONOMIST_PORT / OCO_AEGIS_PORT
override them, and the "serves" lines print the port actually served."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from oco.cli import RunPorts
from tests.run_services import new_user_env, oco_command, run_services


def test_defaults_are_the_documented_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OCO_CEREBRA_PORT", "OCO_ECONOMIST_PORT", "OCO_AEGIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    ports = RunPorts(_env_file=None)  # type: ignore[call-arg]
    assert [ports.of(s) for s in ("cerebra", "economist", "aegis")] == [8080, 8081, 8082]


def test_one_service_runs_on_its_override_and_says_so(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    with run_services(workdir, "economist") as services:
        port = services.ports["economist"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {
            "status": "ok",
            "service": "economist",
        }
        assert f"economist  serves http://127.0.0.1:{port}" in services.stdout_path.read_text()
        assert "cerebra" not in services.stdout_path.read_text()


def test_a_bad_port_stops_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    done = subprocess.run(
        [*oco_command(), "run", "aegis"],
        cwd=tmp_path,
        env=new_user_env({"OCO_AEGIS_PORT": "80a"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "OCO_AEGIS_PORT" in done.stderr and "1 to 65535" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before migrating or creating a key
