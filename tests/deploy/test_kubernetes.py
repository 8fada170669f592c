"""deploy/kubernetes: every manifest of the kustomization valid (offline, strict) against the Kubernetes
schemas of a current minor (kubernetes-validate), the security settings on every Pod template, probes and
resources, every Secret reference listed in deploy/kubernetes/README.md, and the wiring (Services, HPA,
PDBs, NetworkPolicies, aegis's RBAC) pointing at what exists."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy import dockerfile

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.35"
OCO = {"cerebra": 8080, "economist": 8081, "aegis": 8082}
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet", "ReplicaSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBE / "kustomization.yaml").read_text())


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for resource in kustomization()["resources"]:
        docs.extend(d for d in yaml.safe_load_all((KUBE / resource).read_text()) if d)
    return docs


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def pod_templates() -> list[tuple[str, dict[str, Any]]]:
    result = []
    for doc in manifests():
        if doc["kind"] in WORKLOADS:
            spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
            result.append((f"{doc['kind']}/{doc['metadata']['name']}", spec["template"]))
    return result


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def documented_secrets() -> dict[tuple[str, str], bool]:
    """(secret, key) -> required, from the Secrets table of deploy/kubernetes/README.md."""
    rows = re.findall(
        r"^\| (oco-[\w-]+) \| (\S+) \| (yes|no) \|", (KUBE / "README.md").read_text(), re.MULTILINE
    )
    return {(name, key): required == "yes" for name, key, required in rows}


def test_every_resource_file_exists_and_the_namespace_matches() -> None:
    config = kustomization()
    assert config["namespace"] == "oco"
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(config["resources"]) == files, "every manifest is part of the kustomization"
    for doc in manifests():
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == "oco", doc["metadata"]["name"]


def test_every_manifest_is_valid_against_the_kubernetes_schemas() -> None:
    docs = manifests()
    kinds = {d["kind"] for d in docs}
    assert kinds >= {
        "Namespace", "StatefulSet", "Service", "Deployment", "Job", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
    }  # fmt: skip
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}"
            )


def test_the_validator_refuses_a_wrong_manifest() -> None:
    deployment = copy.deepcopy(of_kind("Deployment")["cerebra"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = copy.deepcopy(of_kind("Deployment")["cerebra"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_no_secret_is_inlined() -> None:
    assert not of_kind("Secret")
    for doc in manifests():
        if doc["kind"] == "ConfigMap":
            assert not [k for k in doc["data"] if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", k)], doc[
                "metadata"
            ]


@pytest.mark.parametrize("name,pod", pod_templates(), ids=[n for n, _ in pod_templates()])
def test_every_pod_template_is_locked_down(name: str, pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    context = spec["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, name
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
    for container in containers(pod):
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] > 0, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not security.get("privileged"), name
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) >= {"cpu", "memory"}, f"{name}: {bound}"
        if container["image"].startswith("oco/"):
            assert context["runAsUser"] == security["runAsUser"] == 1001, name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/var/lib/oco" in mounts, f"{name}: the image's volume must be mounted (read-only root)"
    token = spec.get("automountServiceAccountToken")
    if name == "Deployment/aegis":
        assert spec["serviceAccountName"] == "oco-aegis" and token is True
    else:
        assert token is False, f"{name} needs no API server token"


@pytest.mark.parametrize("service", list(OCO))
def test_services_probe_readyz_and_healthz_on_their_port(service: str) -> None:
    deployment = of_kind("Deployment")[service]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].split(":")[0] == f"oco/{service}"
    assert [p["containerPort"] for p in container["ports"]] == [OCO[service]] == dockerfile.exposed(service)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    service_doc = of_kind("Service")[service]
    assert service_doc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service_doc["spec"]["ports"][0]["port"] == OCO[service]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(
        OCO[service]
    )


def test_state_lives_in_statefulsets_with_headless_services_and_claims() -> None:
    sets = of_kind("StatefulSet")
    assert set(sets) == {"timescaledb", "redis"}
    services = of_kind("Service")
    for statefulset in sets.values():
        assert services[statefulset["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"
        assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert sets["timescaledb"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-pg16")
    redis_args = sets["redis"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert redis_args[redis_args.index("--appendonly") + 1] == "yes"
    config = of_kind("ConfigMap")["oco-config"]["data"]
    assert config["POSTGRES_HOST"] == "timescaledb" and config["REDIS_HOST"] == "redis"


def test_the_migration_job_upgrades_the_schema_only() -> None:
    job = of_kind("Job")["oco-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["oco", "db", "upgrade"]
    assert container["image"].split(":")[0] == "oco/migrate"


def secret_references() -> list[tuple[str, str | None, bool, str]]:
    """(secret, key or None for a whole-secret envFrom, optional, where)."""
    refs = []
    for name, pod in pod_templates():
        for container in containers(pod):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.append(
                        (ref["name"], ref["key"], bool(ref.get("optional")), f"{name} {item['name']}")
                    )
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    ref = source["secretRef"]
                    refs.append((ref["name"], None, bool(ref.get("optional")), f"{name} envFrom"))
        for volume in pod["spec"].get("volumes", []):
            if "secret" in volume:
                refs.append(
                    (volume["secret"]["secretName"], None, bool(volume["secret"].get("optional")), name)
                )
    return refs


def test_every_secret_reference_resolves_to_a_documented_key() -> None:
    documented = documented_secrets()
    assert ("oco-postgres", "password") in documented
    refs = secret_references()
    assert refs
    for secret, key, optional, where in refs:
        if key is None:
            keys = [required for (name, _), required in documented.items() if name == secret]
            assert keys, f"{where}: secret {secret} is not documented"
            assert optional == (not any(keys)), f"{where}: {secret} optional must match the table"
        else:
            assert (secret, key) in documented, f"{where}: {secret}/{key} is not documented"
            assert optional == (not documented[(secret, key)]), f"{where}: {secret}/{key} optional must match"
    used = {(s, k) for s, k, _, _ in refs} | {(s, None) for s, _, _, _ in refs}
    for secret, key in documented:
        assert (secret, key) in used or (secret, None) in used, f"README documents unused {secret}/{key}"


def test_cerebra_scales_on_cpu_and_pdbs_select_running_pods() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cerebra"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] >= 2
    deployments = of_kind("Deployment")
    pdbs = of_kind("PodDisruptionBudget")
    assert set(pdbs) == {"cerebra", "economist"}
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]
        assert deployments[name]["spec"]["replicas"] > pdb["spec"]["minAvailable"], "a node can still drain"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_network_policies_allow_only_what_each_pod_needs() -> None:
    policies = of_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    labels = {name.split("/")[1]: pod["metadata"]["labels"] for name, pod in pod_templates()}
    labels["migrate"] = labels.pop("oco-migrate")

    def ingress_sources(target: str, port: int) -> set[str]:
        sources: set[str] = set()
        for policy in policies.values():
            spec = policy["spec"]
            if not _selects(spec["podSelector"], labels[target]):
                continue
            for rule in spec.get("ingress", []):
                if port not in [p["port"] for p in rule.get("ports", [])]:
                    continue
                if "from" not in rule:
                    sources.add("*")
                for peer in rule.get("from", []):
                    sources.update(n for n, lab in labels.items() if _selects(peer["podSelector"], lab))
        return sources

    assert ingress_sources("timescaledb", 5432) == {"cerebra", "economist", "aegis", "migrate"}
    assert ingress_sources("redis", 6379) == {"cerebra", "economist", "aegis"}
    for policy in policies.values():
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                if "ipBlock" in peer:
                    assert {p["port"] for p in rule["ports"]} <= {443, 6443}, "the outside only over TLS"
    egress_to_outside = {
        name
        for name, lab in labels.items()
        for policy in policies.values()
        if _selects(policy["spec"]["podSelector"], lab) and policy["metadata"]["name"] != "allow-dns"
        for rule in policy["spec"].get("egress", [])
        if any("ipBlock" in peer for peer in rule.get("to", []))
    }
    assert egress_to_outside == set(OCO), "the database, Redis and the migration reach nothing outside"


def test_aegis_reads_what_it_backs_up_and_creates_what_it_restores() -> None:
    roles = of_kind("ClusterRole")
    full = {verb for rule in roles["oco-aegis-backup-restore"]["rules"] for verb in rule["verbs"]}
    read_only = {verb for rule in roles["oco-aegis-backup-only"]["rules"] for verb in rule["verbs"]}
    assert read_only == {"get", "list", "watch"}
    assert full == read_only | {"create", "update"}, "no delete, escalate, bind or impersonate"
    (binding,) = of_kind("ClusterRoleBinding").values()
    assert binding["roleRef"]["name"] == "oco-aegis-backup-restore"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "oco-aegis", "namespace": "oco"}]
    assert "oco-aegis" in of_kind("ServiceAccount")
    readme = (KUBE / "README.md").read_text()
    assert "oco-aegis-backup-only" in readme and "backup-only" in readme


def test_every_oco_image_has_a_kustomize_image_entry_and_a_dockerfile_target() -> None:
    entries = {image["name"] for image in kustomization()["images"]}
    used = {
        c["image"].split(":")[0]
        for _, pod in pod_templates()
        for c in containers(pod)
        if c["image"].startswith("oco/")
    }
    assert used == entries == {f"oco/{t}" for t in (*OCO, "migrate")}
    assert all(image.removeprefix("oco/") in dockerfile.stages() for image in used)
