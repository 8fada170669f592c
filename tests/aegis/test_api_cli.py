"""`oco aegis backup|restore|list|schedule` against the aegis service served by uvicorn on loopback (real HTTP)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
def serve_aegis(
    settings, tmp_path: Path, kube, target_kube, client_for
) -> Iterator[Callable[..., ContextManager[tuple[str, dict[str, str]]]]]:  # type: ignore[no-untyped-def]
    """Serve the aegis app (settings overrides as keywords) under uvicorn; yields its URL and the clusters."""
    populate(client_for(kube))
    names = {"src": f"src-{kube.url.rsplit(':', 1)[1]}", "dr": f"dr-{target_kube.url.rsplit(':', 1)[1]}"}
    clusters = clusters_file(tmp_path, {names["src"]: kube, names["dr"]: target_kube})

    @contextmanager
    def serve(**overrides: Any) -> Iterator[tuple[str, dict[str, str]]]:
        with served(create_app(aegis_settings(settings, tmp_path, clusters, **overrides))) as url:
            yield url, names

    yield serve


@pytest.fixture
def served_aegis(serve_aegis) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    with serve_aegis() as running:
        yield running


async def test_cli_backup_restore_and_list(
    served_aegis, keystore, unique, tmp_path, target_kube, client_for
) -> None:  # type: ignore[no-untyped-def]
    url, clusters = served_aegis
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
    assert wrong_key.exit_code == 1
    assert f"401 from {url}: the API key from --api-key was refused" in wrong_key.stderr

    as_json = runner.invoke(cli, ["list", "backups", "--cluster", clusters["src"], "--json", *common])
    assert as_json.exit_code == 0, as_json.output
    page = json.loads(as_json.stdout)
    assert (
        page
        == httpx.get(
            f"{url}/api/v1/backups",
            params={"cluster": clusters["src"], "limit": 50},
            headers={"X-API-Key": key},
        ).json()
    )
    assert [b["phase"] for b in page["items"] if b["id"] == backup_id] == ["Completed"]
    clusters_json = json.loads(runner.invoke(cli, ["list", "clusters", "--json", *common]).stdout)
    assert {c["name"] for c in clusters_json["items"]} >= set(clusters.values())


async def test_a_failed_backup_shows_failure_not_a_full_bar(  # type: ignore[no-untyped-def]
    serve_aegis, kube, keystore, unique, tmp_path
) -> None:
    key = (await keystore.create(unique("cli"), ["aegis"])).plaintext
    store = tmp_path / "store"
    with serve_aegis(oco_aegis_kube_max_attempts=1) as (url, clusters):
        location = unique("disk")
        registered = httpx.post(
            f"{url}/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(store)},
            headers={"X-API-Key": key},
        )
        assert registered.status_code == 201, registered.text
        # The cluster answers (the backup is accepted and lists everything), but the archive cannot be
        # stored: the location's folder is now a file.
        shutil.rmtree(store)
        store.write_text("not a folder")
        runner = CliRunner(env={"COLUMNS": "250", "OCO_API_KEY": key, "OCO_AEGIS_URL": url})
        failed = runner.invoke(
            cli, ["backup", "--cluster", clusters["src"], "--location", location, "--poll-interval", "0.05"]
        )
    assert failed.exit_code == 1, failed.output
    ending = [line for line in failed.stderr.splitlines() if "Failed" in line]
    assert len(ending) == 1, failed.stderr
    assert ending[0].startswith("✗ Failed backup ") and " items: " in ending[0], ending
    assert "━" not in failed.stderr  # no bar drawn as if it were done
    assert ": Failed  " in failed.stdout and "error: upload failed" in failed.stdout


async def test_schedule_create_list_delete(served_aegis, keystore, unique, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, clusters = served_aegis
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
    name = unique("nightly")

    created = runner.invoke(
        cli,
        ["schedule", "create", "--name", name, "--cluster", clusters["src"], "--location", location]
        + ["--cron", "30 2 * * *", "--timezone", "Europe/Paris", "--keep-last", "3", "--ttl-hours", "48"]
        + ["--include-namespaces", "shop,blog", "--selector", "app=web", "--json", *common],
    )
    assert created.exit_code == 0, created.output
    schedule = json.loads(created.stdout)
    assert (schedule["name"], schedule["cron"], schedule["timezone"]) == (name, "30 2 * * *", "Europe/Paris")
    assert (schedule["keep_last"], schedule["ttl_hours"], schedule["enabled"]) == (3, 48, True)
    assert schedule["cluster"] == clusters["src"] and schedule["storage_location"] == location
    assert schedule["spec"]["included_namespaces"] == ["shop", "blog"]
    assert schedule["spec"]["label_selector"] == "app=web" and schedule["next_run_at"]

    listed = runner.invoke(cli, ["schedule", "list", *common])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if name in line)
    assert "30 2 * * *" in row and "Europe/Paris" in row and location in row
    as_json = json.loads(runner.invoke(cli, ["schedule", "list", "--json", *common]).stdout)
    assert [s["id"] for s in as_json["items"] if s["name"] == name] == [schedule["id"]]
    assert json.loads(runner.invoke(cli, ["list", "schedules", "--json", *common]).stdout) == as_json

    invalid = runner.invoke(
        cli,
        ["schedule", "create", "--name", unique("bad"), "--cluster", clusters["src"], "--location", location]
        + ["--cron", "every night", *common],
    )
    assert invalid.exit_code == 1 and "422" in invalid.stderr

    deleted = runner.invoke(cli, ["schedule", "delete", name, *common])
    assert deleted.exit_code == 0, deleted.output
    assert f"deleted schedule {schedule['id']}" in deleted.stdout
    gone = json.loads(runner.invoke(cli, ["schedule", "list", "--json", *common]).stdout)
    assert all(s["id"] != schedule["id"] for s in gone["items"])
    again = runner.invoke(cli, ["schedule", "delete", str(schedule["id"]), *common])
    assert again.exit_code == 1 and "not found" in again.stderr
    unknown = runner.invoke(cli, ["schedule", "delete", name, *common])
    assert unknown.exit_code == 1 and "no schedule named" in unknown.stderr


async def test_cli_restore_with_modifiers_prints_what_each_rule_did(
    served_aegis, keystore, unique, tmp_path, target_kube, client_for
) -> None:  # type: ignore[no-untyped-def]
    url, clusters = served_aegis
    key = (await keystore.create(unique("cli"), ["aegis"])).plaintext
    location = unique("disk")
    registered = httpx.post(
        f"{url}/api/v1/storage-locations",
        json={"name": location, "type": "local", "path": str(tmp_path / "store")},
        headers={"X-API-Key": key},
    )
    assert registered.status_code == 201, registered.text
    common = ["--url", url, "--api-key", key, "--poll-interval", "0.05"]
    runner = CliRunner(env={"COLUMNS": "250"})
    backed_up = runner.invoke(
        cli,
        [
            "backup",
            "--cluster",
            clusters["src"],
            "--location",
            location,
            "--include-namespaces",
            "shop",
            *common,
        ],
    )
    assert backed_up.exit_code == 0, backed_up.output
    backup_id = backed_up.output.split("backup ", 1)[1].split()[0]
    rules = tmp_path / "modifiers.yaml"
    rules.write_text(
        "resource_modifiers:\n"
        "- resources: [apps/deployments]\n"
        "  json_patch:\n"
        "  - {op: replace, path: /spec/template/spec/containers/0/image, value: registry.dr.example.com/nginx:1.27}\n"
        "- resources: [secrets]\n"
        "  json_patch:\n"
        "  - {op: remove, path: /metadata/annotations/missing}\n"
        "- namespaces: [blog]\n"
        "  merge_patch: {metadata: {labels: {restored: 'yes'}}}\n"
    )

    restored = runner.invoke(
        cli,
        [
            "restore",
            backup_id,
            "--cluster",
            clusters["dr"],
            "--map",
            "shop=shop-mod",
            "--modifiers",
            str(rules),
        ]
        + ["--storage-class", "standard=premium", *common],
    )

    assert restored.exit_code == 1, restored.output  # PartiallyFailed: the secret's rule did not apply
    lines = restored.stdout.splitlines()
    assert any("PartiallyFailed" in line and "failed 1" in line for line in lines), restored.stdout
    assert (
        "  failed: secrets shop-mod/creds: resource_modifiers[1] does not apply: operation 0 (remove"
        " /metadata/annotations/missing): /metadata/annotations does not exist; the object was not restored"
    ) in lines
    assert "  modifier resource_modifiers[0]: matched 1  applied 1  failed 0" in lines
    assert "  modifier resource_modifiers[2]: matched 0  applied 0  failed 0" in lines
    assert "  modifier storage_class_mapping: matched 0  applied 0  failed 0" in lines
    assert "  warning: resource_modifiers[2] matched no object" in lines
    assert "  warning: storage_class_mapping: no object uses storage class 'standard'" in lines
    web = client.AppsV1Api(client_for(target_kube)).read_namespaced_deployment("web", "shop-mod")
    assert web.spec.template.spec.containers[0].image == "registry.dr.example.com/nginx:1.27"

    not_a_rule_file = tmp_path / "bad.yaml"
    not_a_rule_file.write_text("patches: []\n")
    refused = runner.invoke(cli, ["restore", backup_id, "--modifiers", str(not_a_rule_file), *common])
    assert refused.exit_code == 2 and "resource_modifiers" in refused.output
    bad_rule = tmp_path / "bad-rule.yaml"
    bad_rule.write_text("- json_patch: [{op: upsert, path: /a}]\n")
    refused = runner.invoke(cli, ["restore", backup_id, "--modifiers", str(bad_rule), *common])
    assert (
        refused.exit_code == 1
        and "422" in refused.stderr
        and "resource_modifiers.0.json_patch" in refused.stderr
    )


async def test_cli_rekey_dry_run_then_rekey(serve_aegis, keystore, unique, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aegis.archive.crypto import generate_key

    old, new = generate_key(), generate_key()
    admin = (await keystore.create(unique("cli-admin"), ["admin"])).plaintext
    location = unique("disk")
    runner = CliRunner(env={"COLUMNS": "250"})
    with serve_aegis(oco_aegis_encryption_key=old) as (url, clusters):
        registered = httpx.post(
            f"{url}/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(tmp_path / "store")},
            headers={"X-API-Key": admin},
        )
        assert registered.status_code == 201, registered.text
        backed_up = runner.invoke(
            cli,
            ["backup", "--cluster", clusters["src"], "--location", location, "--include-namespaces", "blog"]
            + ["--poll-interval", "0.05", "--url", url, "--api-key", admin],
        )
        assert backed_up.exit_code == 0, backed_up.output
    rotated = {"oco_aegis_encryption_keys": json.dumps({"default": old, "2026-12": new})}
    with serve_aegis(**rotated, oco_aegis_encryption_key_current="2026-12") as (url, _):
        common = ["--location", location, "--url", url, "--api-key", admin]
        planned = runner.invoke(cli, ["rekey", "--dry-run", *common])
        assert planned.exit_code == 0, planned.output
        assert "1 would_rekey" in planned.output and "default" in planned.output

        done = runner.invoke(cli, ["rekey", "--poll-interval", "0.05", "--json", *common])
        assert done.exit_code == 0, done.output
        record = json.loads(done.output[done.output.index("{") :])
        assert record["phase"] == "Completed" and record["counts"] == {"rekeyed": 1}

        again = runner.invoke(cli, ["rekey", "--dry-run", *common])
        assert again.exit_code == 0 and "nothing to do" in again.output
