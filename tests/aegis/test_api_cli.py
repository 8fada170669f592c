"""`oco aegis backup|restore|list` against the aegis service served by uvicorn on loopback (real HTTP)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from kubernetes import client
from typer.testing import CliRunner

from aegis.app import create_app
from aegis.cli import app as cli
from tests.aegis.api_env import aegis_settings, clusters_file
from tests.aegis.scenario import populate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(settings, tmp_path: Path, kube, target_kube, client_for) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """The aegis app under uvicorn in a thread; yields its URL and the cluster names."""
    populate(client_for(kube))
    names = {"src": f"src-{kube.url.rsplit(':', 1)[1]}", "dr": f"dr-{target_kube.url.rsplit(':', 1)[1]}"}
    config = aegis_settings(
        settings, tmp_path, clusters_file(tmp_path, {names["src"]: kube, names["dr"]: target_kube})
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", names
    server.should_exit = True
    thread.join(timeout=30)


async def test_cli_backup_restore_and_list(
    served, keystore, unique, tmp_path, target_kube, client_for
) -> None:  # type: ignore[no-untyped-def]
    url, clusters = served
    key = (await keystore.create(unique("cli"), ["aegis"])).plaintext
    location = unique("disk")
    registered = httpx.post(
        f"{url}/api/v1/storage-locations",
        json={"name": location, "type": "local", "path": str(tmp_path / "store")},
        headers={"X-API-Key": key},
    )
    assert registered.status_code == 201, registered.text
    common = ["--url", url, "--api-key", key]
    runner = CliRunner(env={"COLUMNS": "250"})

    backed_up = runner.invoke(
        cli,
        ["backup", "--cluster", clusters["src"], "--location", location, "--include-namespaces", "shop,blog"]
        + ["--poll-interval", "0.05", *common],
    )
    assert backed_up.exit_code == 0, backed_up.output
    assert "Completed" in backed_up.output
    backup_id = int(backed_up.output.split("backup ", 1)[1].split()[0])

    restored = runner.invoke(
        cli,
        [
            "restore",
            str(backup_id),
            "--cluster",
            clusters["dr"],
            "--map",
            "shop=shop-cli",
            "--include-namespaces",
        ]
        + ["shop", "--poll-interval", "0.05", *common],
    )
    assert restored.exit_code == 0, restored.output
    assert "Completed" in restored.output and "failed 0" in restored.output
    configmap = client.CoreV1Api(client_for(target_kube)).read_namespaced_config_map("settings", "shop-cli")
    assert configmap.metadata.labels["aegis.oco/backup"]

    listed = runner.invoke(cli, ["list", "backups", "--cluster", clusters["src"], *common])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if f" {backup_id} " in line)
    assert "Completed" in row and clusters["src"] in row and location in row
    listed = runner.invoke(cli, ["list", "clusters", *common])
    assert listed.exit_code == 0 and clusters["dr"] in listed.output

    refused = runner.invoke(cli, ["restore", "999999999", *common])
    assert refused.exit_code == 1 and "not found" in refused.output
    wrong_key = runner.invoke(cli, ["list", "--url", url, "--api-key", "oco_nope"])
    assert wrong_key.exit_code == 1 and "401" in wrong_key.output
