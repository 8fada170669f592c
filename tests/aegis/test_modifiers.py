"""Restore modifiers, pure logic: matching, RFC 6902 and RFC 7386 patches, each way a patch fails, the
storage class mapping, validation that names the rule and field, planning order and the per-rule report."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from aegis.archive.layout import ArchiveEntry, object_path
from aegis.kube.selectors import ResourceNames
from aegis.restores.modifiers import (
    ModifierError,
    PatchFailed,
    compile_modifiers,
    merge_patch,
    modifier_report,
)
from aegis.restores.plan import PlannedItem, RejectedItem, RestorePlanner
from aegis.restores.schemas import RestoreCreate
from aegis.restores.spec import RestoreSpec

DEPLOY = ResourceNames("deployments", "apps", kind="Deployment", short_names=("deploy",))
PVC = ResourceNames("persistentvolumeclaims", "", kind="PersistentVolumeClaim", short_names=("pvc",))
PV = ResourceNames("persistentvolumes", "", kind="PersistentVolume", short_names=("pv",))
STS = ResourceNames("statefulsets", "apps", kind="StatefulSet", short_names=("sts",))
NS = ResourceNames("namespaces", "", kind="Namespace", short_names=("ns",))


def deployment(name: str = "web", namespace: str = "shop", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {"app": "web"},
            "annotations": {"team": "shop", "deploy.example.com/rev": "7"},
        },
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "web", "image": "docker.io/library/nginx:1.27"}]}},
        },
        "status": {"readyReplicas": 3},
    }


def one_rule(**rule: Any):  # type: ignore[no-untyped-def]
    return compile_modifiers([rule], {}).rules[0]


# -- matching ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        ("deployments.apps", True),
        ("apps/deployments", True),
        ("*/deployments", True),
        ("deploy", True),
        ("Deployment", True),
        ("*.apps", True),
        ("deployments", True),
        ("statefulsets.apps", False),
        ("core/deployments", False),
        ("deployments.batch", False),
    ],
)
def test_resource_patterns(pattern: str, matches: bool) -> None:
    rule = one_rule(resources=[pattern], merge_patch={"a": 1})
    assert rule.matches(DEPLOY, "shop", "web", deployment()) is matches


def test_core_group_written_either_way() -> None:
    for pattern in (
        "persistentvolumeclaims",
        "core/persistentvolumeclaims",
        "/persistentvolumeclaims",
        "pvc",
    ):
        rule = one_rule(resources=[pattern], merge_patch={"a": 1})
        assert rule.matches(PVC, "shop", "data", {}), pattern
        assert not rule.matches(DEPLOY, "shop", "data", {}), pattern


def test_namespace_name_regex_and_label_conditions_all_apply() -> None:
    rule = one_rule(
        namespaces=["shop", "blog-*"],
        names=["web*", "api"],
        name_regex="-(blue|green)$",
        label_selector="app=web,tier!=db",
        merge_patch={"a": 1},
    )
    assert rule.matches(DEPLOY, "blog-eu", "web-blue", deployment(app="web"))
    assert not rule.matches(DEPLOY, "other", "web-blue", deployment(app="web"))  # namespace
    assert not rule.matches(DEPLOY, "shop", "api-blue", deployment(app="web"))  # "api" is no glob
    assert not rule.matches(DEPLOY, "shop", "web-red", deployment(app="web"))  # regex
    assert not rule.matches(DEPLOY, "shop", "web-blue", deployment(app="web", tier="db"))  # labels
    assert not rule.matches(DEPLOY, "shop", "cache-blue", deployment(app="web"))  # names


def test_regex_is_searched_like_velero_and_anchors_are_honoured() -> None:
    assert one_rule(name_regex="sql", merge_patch={"a": 1}).matches(DEPLOY, "x", "mysql-0", {})
    assert not one_rule(name_regex="^sql", merge_patch={"a": 1}).matches(DEPLOY, "x", "mysql-0", {})


def test_a_namespace_condition_never_matches_cluster_scoped_objects() -> None:
    rule = one_rule(namespaces=["*"], merge_patch={"a": 1})
    assert not rule.matches(NS, None, "shop", {})
    assert one_rule(merge_patch={"a": 1}).matches(NS, None, "shop", {})


# -- JSON Patch (RFC 6902) ---------------------------------------------------------------------------------


def test_json_patch_changes_the_registry_replicas_and_drops_an_annotation() -> None:
    rule = one_rule(
        json_patch=[
            {"op": "test", "path": "/spec/replicas", "value": 3},
            {"op": "replace", "path": "/spec/replicas", "value": 1},
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "registry.dr.example.com/nginx:1.27",
            },
            {"op": "remove", "path": "/metadata/annotations/deploy.example.com~1rev"},
            {"op": "add", "path": "/metadata/labels/restored", "value": "yes"},
            {"op": "copy", "from": "/metadata/annotations/team", "path": "/metadata/labels/team"},
            {"op": "move", "from": "/status/readyReplicas", "path": "/metadata/annotations/ready"},
        ]
    )
    patched = rule.apply(deployment())
    assert patched["spec"]["replicas"] == 1
    assert (
        patched["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.dr.example.com/nginx:1.27"
    )
    assert patched["metadata"]["annotations"] == {"team": "shop", "ready": 3}
    assert patched["metadata"]["labels"] == {"app": "web", "restored": "yes", "team": "shop"}
    assert patched["status"] == {}


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        (
            {"op": "test", "path": "/spec/replicas", "value": 2},
            "the value at /spec/replicas is not the tested value",
        ),
        ({"op": "test", "path": "/spec/paused", "value": True}, "/spec/paused does not exist"),
        (
            {"op": "remove", "path": "/metadata/annotations/missing"},
            "/metadata/annotations/missing does not exist",
        ),
        ({"op": "replace", "path": "/spec/strategy", "value": {}}, "/spec/strategy does not exist"),
        (
            {"op": "add", "path": "/spec/selector/matchLabels/x", "value": "y"},
            "/spec/selector does not exist",
        ),
        ({"op": "move", "from": "/spec/nope", "path": "/spec/x"}, "/spec/nope does not exist"),
        ({"op": "copy", "from": "/spec/replicas", "path": "/missing/x"}, "/missing does not exist"),
        (
            {"op": "add", "path": "/spec/template/spec/containers/5", "value": {}},
            "the target cannot take it (an array index out of range, or not an object or array)",
        ),
    ],
)
def test_each_json_patch_failure_names_the_operation_and_why(operation: dict[str, Any], reason: str) -> None:
    rule = one_rule(json_patch=[{"op": "add", "path": "/metadata/labels/a", "value": "b"}, operation])
    with pytest.raises(PatchFailed) as failed:
        rule.apply(deployment())
    assert str(failed.value) == f"operation 1 ({operation['op']} {operation['path']}): {reason}"


def test_a_failed_test_never_echoes_the_objects_values() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "czNjcjN0"},
    }
    rule = one_rule(json_patch=[{"op": "test", "path": "/data", "value": {"password": "guess"}}])
    with pytest.raises(PatchFailed) as failed:
        rule.apply(secret)
    assert "czNjcjN0" not in str(failed.value) and "guess" not in str(failed.value)
    rule = one_rule(json_patch=[{"op": "remove", "path": "/data/x/y"}])
    with pytest.raises(PatchFailed) as failed:
        rule.apply(secret)
    assert "czNjcjN0" not in str(failed.value)


@pytest.mark.parametrize(
    ("patch", "what"),
    [
        ([{"op": "replace", "path": "/metadata/name", "value": "other"}], "metadata.name"),
        ([{"op": "remove", "path": "/metadata/namespace"}], "metadata.namespace"),
        ([{"op": "replace", "path": "/kind", "value": "StatefulSet"}], "kind"),
        ([{"op": "replace", "path": "/apiVersion", "value": "extensions/v1beta1"}], "API group"),
    ],
)
def test_a_patch_cannot_turn_an_object_into_another(patch: list[dict[str, Any]], what: str) -> None:
    with pytest.raises(PatchFailed, match=f"changes {what}"):
        one_rule(json_patch=patch).apply(deployment())


def test_a_patch_may_change_the_api_version_within_the_group() -> None:
    rule = one_rule(json_patch=[{"op": "replace", "path": "/apiVersion", "value": "apps/v1beta2"}])
    assert rule.apply(deployment())["apiVersion"] == "apps/v1beta2"


# -- JSON merge patch (RFC 7386) ---------------------------------------------------------------------------

# RFC 7386, Appendix A: (original, patch, result)
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_follows_rfc_7386_appendix_a(original: Any, patch: Any, result: Any) -> None:
    assert merge_patch(copy.deepcopy(original), patch) == result


def test_merge_patch_rule_sets_replicas_and_deletes_an_annotation() -> None:
    rule = one_rule(merge_patch={"spec": {"replicas": 0}, "metadata": {"annotations": {"team": None}}})
    patched = rule.apply(deployment())
    assert patched["spec"]["replicas"] == 0
    assert patched["metadata"]["annotations"] == {"deploy.example.com/rev": "7"}
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"].startswith("docker.io/")


def test_patched_objects_share_no_value_with_the_rule_or_each_other() -> None:
    for rule in (
        one_rule(merge_patch={"spec": {"tolerations": [{"key": "dr"}]}}),
        one_rule(json_patch=[{"op": "add", "path": "/spec/tolerations", "value": [{"key": "dr"}]}]),
    ):
        first, second = rule.apply(deployment()), rule.apply(deployment())
        first["spec"]["tolerations"][0]["key"] = "changed"
        assert second["spec"]["tolerations"] == [{"key": "dr"}]
        assert rule.apply(deployment())["spec"]["tolerations"] == [{"key": "dr"}]


# -- storage class mapping, order, counts ------------------------------------------------------------------


def test_storage_class_mapping_rewrites_pvcs_pvs_and_claim_templates() -> None:
    modifiers = compile_modifiers([], {"standard": "premium", "slow": "fast"})
    pvc = {
        "metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "slow"}},
        "spec": {"storageClassName": "standard"},
    }
    pv = {"metadata": {}, "spec": {"storageClassName": "slow"}}
    sts = {
        "metadata": {},
        "spec": {
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"storageClassName": "standard"}},
                {"metadata": {"name": "logs"}, "spec": {"storageClassName": "other"}},
            ]
        },
    }
    assert modifiers.apply(PVC, "shop", "data", pvc).applied == ["storage_class_mapping"]
    assert pvc["spec"]["storageClassName"] == "premium"
    assert pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"] == "fast"
    assert modifiers.apply(PV, None, "pv", pv).applied == ["storage_class_mapping"]
    assert pv["spec"]["storageClassName"] == "fast"
    assert modifiers.apply(STS, "shop", "db", sts).applied == ["storage_class_mapping"]
    classes = [t["spec"]["storageClassName"] for t in sts["spec"]["volumeClaimTemplates"]]
    assert classes == ["premium", "other"]
    untouched = {"spec": {"storageClassName": "standard"}}  # a Deployment has no storage class to map
    assert modifiers.apply(DEPLOY, "shop", "web", untouched).applied == []
    assert untouched["spec"]["storageClassName"] == "standard"
    assert modifiers.unused() == []


def test_rules_run_in_order_and_a_failure_stops_the_rest() -> None:
    modifiers = compile_modifiers(
        [
            {"resources": ["deployments.apps"], "merge_patch": {"spec": {"replicas": 1}}},
            {"json_patch": [{"op": "test", "path": "/spec/replicas", "value": 1}]},
            {"names": ["web"], "json_patch": [{"op": "remove", "path": "/spec/paused"}]},
            {"merge_patch": {"metadata": {"labels": {"late": "yes"}}}},
            {"resources": ["secrets"], "merge_patch": {"type": "Opaque"}},
        ],
        {"gold": "silver"},
    )
    ok = modifiers.apply(DEPLOY, "shop", "api", deployment("api"))
    assert ok.applied == ["resource_modifiers[0]", "resource_modifiers[1]", "resource_modifiers[3]"]
    assert ok.failed_rule is None and ok.obj["metadata"]["labels"]["late"] == "yes"
    failed = modifiers.apply(DEPLOY, "shop", "web", deployment("web"))
    assert failed.applied == ["resource_modifiers[0]", "resource_modifiers[1]"]
    assert failed.error == {
        "rule": "resource_modifiers[2]",
        "reason": "operation 0 (remove /spec/paused): /spec/paused does not exist",
    }
    assert modifiers.matched == {
        "resource_modifiers[0]": 2,
        "resource_modifiers[1]": 2,
        "resource_modifiers[2]": 1,
        "resource_modifiers[3]": 1,
    }
    assert modifiers.unused() == [
        "resource_modifiers[4] matched no object",
        "storage_class_mapping: no object uses storage class 'gold'",
    ]


# -- validation names the rule and the field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        (
            {"json_patch": [{"op": "upsert", "path": "/a"}]},
            "resource_modifiers[1].json_patch",
            "op 'upsert' is not one of",
        ),
        (
            {"json_patch": [{"op": "add", "path": "/a"}]},
            "resource_modifiers[1].json_patch",
            "operation 0 (add): 'value' is required",
        ),
        (
            {"json_patch": [{"op": "remove", "path": "spec/replicas"}]},
            "resource_modifiers[1].json_patch",
            "must start with /",
        ),
        (
            {"json_patch": [{"op": "replace", "path": "/a~2", "value": 1}]},
            "resource_modifiers[1].json_patch",
            "invalid escape",
        ),
        (
            {"json_patch": [{"op": "copy", "path": "/a"}]},
            "resource_modifiers[1].json_patch",
            "'from' must be a JSON Pointer",
        ),
        (
            {"json_patch": [{"op": "move", "from": "/a", "path": "/a/b"}]},
            "resource_modifiers[1].json_patch",
            "into its own child",
        ),
        ({"json_patch": []}, "resource_modifiers[1].json_patch", "non-empty list"),
        ({"json_patch": ["add"]}, "resource_modifiers[1].json_patch", "operation 0 is not an object"),
        ({"merge_patch": {}}, "resource_modifiers[1].merge_patch", "non-empty JSON object"),
        ({"merge_patch": ["a"]}, "resource_modifiers[1].merge_patch", "non-empty JSON object"),
        (
            {"name_regex": "web-(", "merge_patch": {"a": 1}},
            "resource_modifiers[1].name_regex",
            "not a valid regular expression",
        ),
        (
            {"label_selector": "app in (", "merge_patch": {"a": 1}},
            "resource_modifiers[1].label_selector",
            "label selector",
        ),
        ({"resources": ["a/b/c"], "merge_patch": {"a": 1}}, "resource_modifiers[1].resources", "neither"),
        ({"namespaces": [""], "merge_patch": {"a": 1}}, "resource_modifiers[1].namespaces", "non-empty"),
        ({"names": [], "merge_patch": {"a": 1}}, "resource_modifiers[1].names", "at least one"),
        (
            {"merge_patch": {"a": 1}, "json_patch": [{"op": "remove", "path": "/a"}]},
            "resource_modifiers[1]",
            "exactly one",
        ),
        ({"names": ["web"]}, "resource_modifiers[1]", "exactly one"),
        ({"patches": [], "merge_patch": {"a": 1}}, "resource_modifiers[1].patches", "unknown field"),
    ],
)
def test_compile_errors_name_the_rule_and_field(rule: dict[str, Any], field: str, message: str) -> None:
    good = {"merge_patch": {"a": 1}}
    with pytest.raises(ModifierError) as error:
        compile_modifiers([good, rule], {})
    assert error.value.field == field
    assert message in str(error.value)
    assert str(error.value).startswith(f"{field}: ")
    # the request schema refuses the same rule, its location naming the rule's index
    with pytest.raises(ValidationError) as invalid:
        RestoreCreate(backup_id=1, resource_modifiers=[good, rule])
    locations = [e["loc"] for e in invalid.value.errors()]
    assert all(loc[:2] == ("resource_modifiers", 1) for loc in locations), locations
    if all(e["type"] == "value_error" for e in invalid.value.errors()):  # ours, not a type error
        assert any(message in e["msg"] for e in invalid.value.errors())


def test_storage_class_mapping_is_validated() -> None:
    with pytest.raises(ModifierError) as error:
        compile_modifiers([], {"standard": ""})
    assert error.value.field == "storage_class_mapping"
    with pytest.raises(ValidationError):
        RestoreCreate(backup_id=1, storage_class_mapping={"": "fast"})
    with pytest.raises(ValueError, match="storage_class_mapping"):
        RestoreSpec(storage_class_mapping={"a": " "}).validate()


# -- planning: on the object as backed up, before stripping and mapping ------------------------------------


def entry(resource: str, group: str, namespace: str | None, name: str) -> ArchiveEntry:
    return ArchiveEntry(resource, group, namespace, name, object_path(resource, group, namespace, name))


def test_planner_patches_the_object_as_backed_up_then_strips_and_maps() -> None:
    spec = RestoreSpec(
        name="r",
        namespace_mapping={"shop": "shop-dr"},
        resource_modifiers=[
            {  # matched on the source namespace; status is still there to copy from (Velero #8094)
                "namespaces": ["shop"],
                "json_patch": [
                    {"op": "copy", "from": "/status/readyReplicas", "path": "/spec/replicas"},
                    {"op": "test", "path": "/metadata/namespace", "value": "shop"},
                ],
            },
            {"namespaces": ["shop-dr"], "merge_patch": {"spec": {"paused": True}}},
        ],
    )
    planner = RestorePlanner(spec)
    planned = planner.plan(entry("deployments", "apps", "shop", "web"), deployment())
    assert isinstance(planned, PlannedItem)
    assert planned.modified_by == ["resource_modifiers[0]"]
    assert planned.body["spec"]["replicas"] == 3 and "paused" not in planned.body["spec"]
    assert "status" not in planned.body and planned.namespace == "shop-dr"
    assert planned.body["metadata"]["namespace"] == "shop-dr"
    assert planner.modifiers.unused() == ["resource_modifiers[1] matched no object"]


def test_planner_rejects_an_object_a_rule_cannot_patch_under_its_target_name() -> None:
    spec = RestoreSpec(
        namespace_mapping={"shop": "shop-dr"},
        storage_class_mapping={"x": "y"},
        resource_modifiers=[
            {"merge_patch": {"metadata": {"labels": {"restored": "yes"}}}},
            {"json_patch": [{"op": "replace", "path": "/spec/paused", "value": False}]},
        ],
    )
    rejected = RestorePlanner(spec).plan(entry("deployments", "apps", "shop", "web"), deployment())
    assert rejected == RejectedItem(
        "deployments.apps",
        "shop-dr",
        "web",
        "resource_modifiers[1]",
        "operation 0 (replace /spec/paused): /spec/paused does not exist",
        ["resource_modifiers[0]"],
    )
    assert "resource_modifiers[1] does not apply" in rejected.message and "not restored" in rejected.message


def test_modifier_report_counts_per_rule_from_the_items() -> None:
    spec = {"storage_class_mapping": {"a": "b"}, "resource_modifiers": [{}, {}, {}]}
    items = [
        {"modified_by": ["storage_class_mapping", "resource_modifiers[0]"]},
        {
            "modified_by": ["resource_modifiers[0]"],
            "modifier_error": {"rule": "resource_modifiers[1]", "reason": "x"},
        },
        {"outcome": "created"},
    ]
    assert modifier_report(spec, items) == [
        {"rule": "storage_class_mapping", "matched": 1, "applied": 1, "failed": 0},
        {"rule": "resource_modifiers[0]", "matched": 2, "applied": 2, "failed": 0},
        {"rule": "resource_modifiers[1]", "matched": 1, "applied": 0, "failed": 1},
        {"rule": "resource_modifiers[2]", "matched": 0, "applied": 0, "failed": 0},
    ]
    assert modifier_report({}, items) == []
