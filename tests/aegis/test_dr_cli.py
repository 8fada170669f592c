"""`oco aegis dr plans|plan|status|drill|drills|failover|failback` against the aegis service served by
uvicorn on loopback (real HTTP), with two fake clusters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client
from typer.testing import CliRunner

from aegis.app import create_app
from aegis.cli import app as cli
from tests.aegis.api_env import aegis_settings, clusters_file
from tests.aegis.scenario import populate
from tests.oco.loopback import served


@pytest.fixture
def served_aegis(
    settings, tmp_path: Path, kube, target_kube, client_for
) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    kube.fake.workloads_available = target_kube.fake.workloads_available = True
    names = {"src": f"src-{kube.url.rsplit(':', 1)[1]}", "dr": f"dr-{target_kube.url.rsplit(':', 1)[1]}"}
    clusters = clusters_file(tmp_path, {names["src"]: kube, names["dr"]: target_kube})
    with served(create_app(aegis_settings(settings, tmp_path, clusters))) as url:
        yield url, names


async def test_cli_dr_plan_status_drill_failover_failback(
    served_aegis, keystore, unique, tmp_path, kube, target_kube, client_for
) -> None:  # type: ignore[no-untyped-def]
    url, clusters = served_aegis
    key = (await keystore.create(unique("cli"), ["aegis"])).plaintext
    location, name = unique("disk"), unique("shop")
    headers = {"X-API-Key": key}
    registered = httpx.post(
        f"{url}/api/v1/storage-locations",
        json={"name": location, "type": "local", "path": str(tmp_path / "store")},
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    common = ["--url", url, "--api-key", key]
    runner = CliRunner(env={"COLUMNS": "250"})

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["dr", *args, *common])
        assert result.exit_code == code, result.output
        return result.stdout

    created = json.loads(
        run(
            "plan",
            "create",
            "--name",
            name,
            "--source",
            clusters["src"],
            "--target",
            clusters["dr"],
            "--namespaces",
            "shop",
            "--location",
            location,
            "--rpo-minutes",
            "30",
            "--rto-minutes",
            "15",
            "--readiness-timeout-s",
            "10",
            "--json",
        )
    )
    assert created["name"] == name and created["included_namespaces"] == ["shop"]
    assert name in run("plans")
    assert json.loads(run("plan", "show", name, "--json"))["id"] == created["id"]
    assert json.loads(run("status", name, "--json"))["rpo_status"] == "breached"
    drill = run("drill", name, "--poll-interval", "0.05", code=1)  # no backup yet: it fails and says why
    assert "no Completed backup" in drill and "next:" in drill

    backup = httpx.post(
        f"{url}/api/v1/backups",
        json={"cluster": clusters["src"], "storage_location": location, "included_namespaces": ["shop"]},
        headers=headers,
    ).json()
    while backup["phase"] in ("New", "InProgress"):
        backup = httpx.get(f"{url}/api/v1/backups/{backup['id']}", headers=headers).json()
    assert backup["phase"] == "Completed"
    assert "RPO ok" in run("status", name)

    passed = json.loads(run("drill", str(created["id"]), "--poll-interval", "0.05", "--json"))
    assert passed["phase"] == "Completed" and passed["passed"] is True
    drills = json.loads(run("drills", name, "--json"))
    assert drills["total"] == 2 and drills["items"][0]["id"] == passed["id"]
    assert "Completed" in run("drills", name)

    dry = run("failover", name, "--dry-run")
    assert "(dry run): Completed" in dry and "scale_down" in dry and "planned" in dry
    assert client.AppsV1Api(client_for(kube)).read_namespaced_deployment("web", "shop").spec.replicas == 2
    over = json.loads(run("failover", name, "--poll-interval", "0.05", "--json"))
    assert over["phase"] == "Completed" and over["replicas"]["workloads"][0]["replicas"] == 2
    assert (
        client.AppsV1Api(client_for(target_kube)).read_namespaced_deployment("web", "shop").spec.replicas == 2
    )
    back = run("failback", name, "--poll-interval", "0.05")
    assert "failback" in back and "Completed" in back and "restore_replicas" in back
    assert client.AppsV1Api(client_for(kube)).read_namespaced_deployment("web", "shop").spec.replicas == 2

    assert "deleted DR plan" in run("plan", "delete", name)
    missing = runner.invoke(cli, ["dr", "status", name, *common])
    assert missing.exit_code == 1 and "no DR plan named" in missing.output
