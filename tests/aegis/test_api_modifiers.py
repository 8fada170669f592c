"""Restores that transform, through the API into a second fake cluster read back with the official client:
modifiers patch what they match, a patch that does not apply fails that object (reported per item, naming
the rule), rules that match nothing are reported, and a bad rule is refused before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.scenario import populate

REGISTRY = "registry.dr.example.com"


def add_storage_objects(api: client.ApiClient) -> None:
    """A PVC and a StatefulSet of class "standard" in shop, and an annotation to drop on the Deployment."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_persistent_volume_claim(
        "shop",
        {
            "metadata": {"name": "db-data"},
            "spec": {
                "storageClassName": "standard",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    labels = {"app": "db"}
    apps.create_namespaced_stateful_set(
        "shop",
        {
            "metadata": {"name": "db", "labels": labels},
            "spec": {
                "replicas": 3,
                "serviceName": "db",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "storageClassName": "standard",
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
    )
    web = apps.read_namespaced_deployment("web", "shop")
    web.metadata.annotations = {"deploy.example.com/rev": "7", "team": "shop"}
    apps.replace_namespaced_deployment("web", "shop", web)


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    source = client_for(kube)
    populate(source)
    add_storage_objects(source)
    aegis = await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)
    aegis.extra["target_api"] = client_for(target_kube)
    location = unique("disk")
    await aegis.add_local_location(location)
    backup = await aegis.backup(location, included_namespaces=["shop", "blog"])
    assert backup["phase"] == "Completed", backup
    aegis.extra["backup_id"] = backup["id"]
    return aegis


RULES: list[dict[str, Any]] = [
    {  # 0: another registry, and drop an annotation
        "resources": ["apps/deployments"],
        "json_patch": [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": f"{REGISTRY}/nginx:1.27",
            },
            {"op": "remove", "path": "/metadata/annotations/deploy.example.com~1rev"},
        ],
    },
    {  # 1: scale down what is restored for DR
        "resources": ["deployments.apps", "sts"],
        "names": ["web", "d?"],
        "merge_patch": {"spec": {"replicas": 1}},
    },
    {  # 2: a guard that does not hold for settings (color is blue): that config map fails, is not restored
        "resources": ["configmaps"],
        "label_selector": "app=web",
        "json_patch": [{"op": "test", "path": "/data/color", "value": "red"}],
    },
    {  # 3: blog is not part of this restore: matches nothing
        "namespaces": ["blog"],
        "merge_patch": {"metadata": {"labels": {"restored": "yes"}}},
    },
]


def item(record: dict[str, Any], resource: str, name: str) -> dict[str, Any]:
    return next(i for i in record["results"]["items"] if i["resource"] == resource and i["name"] == name)


async def test_modifiers_patch_what_they_match_and_report_what_they_do_not(env: AegisEnv) -> None:
    record = await env.restore(
        backup_id=env.extra["backup_id"],
        cluster=env.dr,
        included_namespaces=["shop"],
        namespace_mapping={"shop": "shop-dr"},
        storage_class_mapping={"standard": "premium", "unused": "other"},
        resource_modifiers=RULES,
    )

    assert record["phase"] == "PartiallyFailed", record
    assert record["results"]["failed"] == 1
    core, apps = client.CoreV1Api(env.extra["target_api"]), client.AppsV1Api(env.extra["target_api"])
    web = apps.read_namespaced_deployment("web", "shop-dr")
    assert web.spec.template.spec.containers[0].image == f"{REGISTRY}/nginx:1.27"
    assert web.spec.replicas == 1
    assert web.metadata.annotations == {"team": "shop"}
    db = apps.read_namespaced_stateful_set("db", "shop-dr")
    assert db.spec.replicas == 1
    assert db.spec.volume_claim_templates[0].spec.storage_class_name == "premium"
    assert (
        core.read_namespaced_persistent_volume_claim("db-data", "shop-dr").spec.storage_class_name
        == "premium"
    )
    assert core.read_namespaced_secret("creds", "shop-dr").metadata.labels["app"] == "web"  # untouched

    # per item: which modifiers changed it, in order; the failed one names the rule, the op and why
    assert item(record, "deployments.apps", "web")["modified_by"] == [
        "resource_modifiers[0]",
        "resource_modifiers[1]",
    ]
    assert item(record, "statefulsets.apps", "db")["modified_by"] == [
        "storage_class_mapping",
        "resource_modifiers[1]",
    ]
    assert item(record, "persistentvolumeclaims", "db-data")["modified_by"] == ["storage_class_mapping"]
    assert (
        item(record, "secrets", "creds")["modified_by"] == []
        and item(record, "secrets", "creds")["modifier_error"] is None
    )
    failed = item(record, "configmaps", "settings")
    assert failed["outcome"] == "failed" and failed["namespace"] == "shop-dr"
    assert failed["modifier_error"] == {
        "rule": "resource_modifiers[2]",
        "reason": "operation 0 (test /data/color): the value at /data/color is not the tested value",
    }
    assert failed["message"].startswith(
        "resource_modifiers[2] does not apply: operation 0 (test /data/color)"
    )
    assert "blue" not in failed["message"]
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("settings", "shop-dr")
    assert missing.value.status == 404

    # per rule: matched / applied / failed; what matched nothing is a warning too
    assert record["results"]["modifiers"] == [
        {"rule": "storage_class_mapping", "matched": 2, "applied": 2, "failed": 0},
        {"rule": "resource_modifiers[0]", "matched": 1, "applied": 1, "failed": 0},
        {"rule": "resource_modifiers[1]", "matched": 2, "applied": 2, "failed": 0},
        {"rule": "resource_modifiers[2]", "matched": 1, "applied": 0, "failed": 1},
        {"rule": "resource_modifiers[3]", "matched": 0, "applied": 0, "failed": 0},
    ]
    assert "resource_modifiers[3] matched no object" in record["warnings"]
    assert "storage_class_mapping: no object uses storage class 'unused'" in record["warnings"]
    assert record["spec"]["resource_modifiers"][2]["label_selector"] == "app=web"
    only_failed = await env.ok("GET", f"/api/v1/restores/{record['id']}", params={"outcome": "failed"})
    assert [i["name"] for i in only_failed["results"]["items"]] == ["settings"]
    assert only_failed["results"]["modifiers"] == record["results"]["modifiers"]  # over all items


async def test_a_dry_run_reports_the_modifiers_and_writes_nothing(env: AegisEnv) -> None:
    record = await env.restore(
        backup_id=env.extra["backup_id"],
        cluster=env.dr,
        included_namespaces=["shop"],
        dry_run=True,
        storage_class_mapping={"standard": "premium"},
        resource_modifiers=RULES[:3],
    )
    assert record["phase"] == "PartiallyFailed" and record["dry_run"]
    assert item(record, "deployments.apps", "web")["modified_by"] == [
        "resource_modifiers[0]",
        "resource_modifiers[1]",
    ]
    assert item(record, "configmaps", "settings")["modifier_error"]["rule"] == "resource_modifiers[2]"
    writes = [r for r in env.target.fake.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]
    assert writes and all(r.query.get("dryRun") == "All" for r in writes)  # the server only judged them
    sent = {r.path.rsplit("/", 1)[-1] for r in writes}
    assert "deployments" in sent and "configmaps" not in sent  # the failed config map was never sent


@pytest.mark.parametrize(
    ("rule", "param", "message"),
    [
        ({"json_patch": [{"op": "upsert", "path": "/a"}]}, "resource_modifiers.1.json_patch", "op 'upsert'"),
        (
            {"json_patch": [{"op": "add", "path": "/a"}]},
            "resource_modifiers.1.json_patch",
            "'value' is required",
        ),
        (
            {"json_patch": [{"op": "remove", "path": "a"}]},
            "resource_modifiers.1.json_patch",
            "must start with /",
        ),
        (
            {"name_regex": "(", "merge_patch": {"a": 1}},
            "resource_modifiers.1.name_regex",
            "regular expression",
        ),
        ({"names": ["web"]}, "resource_modifiers.1", "exactly one of json_patch or merge_patch"),
        (
            {"groupResource": "pods", "merge_patch": {"a": 1}},
            "resource_modifiers.1.groupResource",
            "Extra inputs",
        ),
    ],
)
async def test_a_bad_rule_is_refused_naming_it_before_anything_runs(
    env: AegisEnv, rule: dict[str, Any], param: str, message: str
) -> None:
    before = (await env.ok("GET", "/api/v1/restores"))["total"]
    response = await env.call(
        "POST",
        "/api/v1/restores",
        json={"backup_id": env.extra["backup_id"], "cluster": env.dr, "resource_modifiers": [RULES[1], rule]},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param and message in error["message"], error
    assert (await env.ok("GET", "/api/v1/restores"))["total"] == before
