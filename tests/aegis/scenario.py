"""A small but realistic cluster, created through the official client's typed APIs."""

from __future__ import annotations

from kubernetes import client
from kubernetes.client import ApiClient

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

NAMESPACES = ("shop", "blog")


def populate(api: ApiClient) -> None:
    """Two namespaces (shop, blog) with an app each, plus an unrelated namespace and cluster objects."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    rbac, storage = client.RbacAuthorizationV1Api(api), client.StorageV1Api(api)
    client.ApiextensionsV1Api(api).create_custom_resource_definition(WIDGET_CRD)
    storage.create_storage_class(
        {"metadata": {"name": "fast"}, "provisioner": "example.com/fast", "reclaimPolicy": "Retain"}
    )
    rbac.create_cluster_role({"metadata": {"name": "reader"}, "rules": []})
    for ns in (*NAMESPACES, "other"):
        core.create_namespace({"metadata": {"name": ns, "labels": {"team": ns}}})
    core.create_namespaced_config_map("other", {"metadata": {"name": "unrelated"}, "data": {"x": "1"}})

    for ns in NAMESPACES:
        labels = {"app": "web"}
        deployment = apps.create_namespaced_deployment(
            ns,
            {
                "metadata": {"name": "web", "labels": labels},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                    },
                },
            },
        )
        rs = apps.create_namespaced_replica_set(
            ns,
            {
                "metadata": {
                    "name": "web-5d9c",
                    "labels": labels,
                    "ownerReferences": [_owner("apps/v1", "Deployment", "web", deployment.metadata.uid)],
                },
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                    },
                },
            },
        )
        core.create_namespaced_pod(
            ns,
            {
                "metadata": {
                    "name": "web-5d9c-abcde",
                    "labels": labels,
                    "ownerReferences": [_owner("apps/v1", "ReplicaSet", "web-5d9c", rs.metadata.uid)],
                },
                "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        )
        core.create_namespaced_pod(
            ns,
            {
                "metadata": {"name": "debug", "labels": {"app": "debug"}},
                "spec": {
                    "nodeName": "node-2",
                    "containers": [
                        {
                            "name": "sh",
                            "image": "busybox",
                            "volumeMounts": [{"name": "kube-api-access-x1", "mountPath": "/var/run/secrets"}],
                        }
                    ],
                    "volumes": [{"name": "kube-api-access-x1", "projected": {"sources": []}}],
                },
            },
        )
        core.create_namespaced_service(
            ns,
            {
                "metadata": {"name": "web", "labels": labels},
                "spec": {"selector": labels, "ports": [{"port": 80}]},
            },
        )
        core.create_namespaced_service(
            ns,
            {
                "metadata": {"name": "web-headless", "labels": labels},
                "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 80}]},
            },
        )
        core.create_namespaced_endpoints(ns, {"metadata": {"name": "web"}, "subsets": []})
        core.create_namespaced_event(
            ns,
            {
                "metadata": {"name": "web.17a"},
                "involvedObject": {"kind": "Deployment", "name": "web", "namespace": ns},
                "reason": "ScalingReplicaSet",
                "message": "Scaled up",
            },
        )
        core.create_namespaced_config_map(
            ns, {"metadata": {"name": "settings", "labels": labels}, "data": {"color": "blue", "ns": ns}}
        )
        core.create_namespaced_config_map(
            ns,
            {
                "metadata": {"name": "scratch", "labels": {"aegis.oco/exclude-from-backup": "true"}},
                "data": {"tmp": "1"},
            },
        )
        core.create_namespaced_secret(
            ns,
            {
                "metadata": {"name": "creds", "labels": labels},
                "type": "Opaque",
                "data": {"password": "czNjcjN0"},
            },
        )
        core.create_namespaced_service_account(ns, {"metadata": {"name": "builder"}})
        rbac.create_namespaced_role_binding(
            ns,
            {
                "metadata": {"name": "builder"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": ns}],
            },
        )
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "example.com",
            "v1",
            ns,
            "widgets",
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "gizmo"},
                "spec": {"size": 3},
            },
        )

    core.create_persistent_volume(
        {
            "metadata": {"name": "pv-data"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/data"},
                "claimRef": {"namespace": "shop", "name": "data", "uid": "0000", "resourceVersion": "1"},
            },
        }
    )
    core.create_persistent_volume(
        {
            "metadata": {"name": "pv-unrelated"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/x"},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        "shop",
        {
            "metadata": {"name": "data", "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": "pv-data",
            },
        },
    )


def _owner(api_version: str, kind: str, name: str, uid: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}
