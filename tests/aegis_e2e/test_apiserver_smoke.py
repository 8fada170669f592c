"""Smoke tests of the real kube-apiserver test environment through the official Python client.

They prove what aegis relies on: core objects, CRDs and custom resources, validation, paging, conflicts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e

GROUP = "e2e.oco.dev"
VERSION = "v1"
PLURAL = "widgets"
CRD_NAME = f"{PLURAL}.{GROUP}"


@pytest.fixture
def api(kube_env: KubeEnv) -> Iterator[ApiClient]:
    api_client = kube_env.api_client()
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def namespace(api: ApiClient) -> Iterator[str]:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    # Without a controller manager the namespace stays Terminating; the env is thrown away anyway.
    client.CoreV1Api(api).delete_namespace(name)


def _configmap(name: str, data: dict[str, str]) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def _widget_crd() -> client.V1CustomResourceDefinition:
    schema = client.V1JSONSchemaProps(
        type="object",
        properties={
            "spec": client.V1JSONSchemaProps(
                type="object",
                required=["size"],
                properties={
                    "size": client.V1JSONSchemaProps(type="integer", minimum=1),
                    "color": client.V1JSONSchemaProps(type="string"),
                },
            )
        },
    )
    return client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=CRD_NAME),
        spec=client.V1CustomResourceDefinitionSpec(
            group=GROUP,
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(plural=PLURAL, singular="widget", kind="Widget"),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name=VERSION,
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(open_apiv3_schema=schema),
                )
            ],
        ),
    )


def _ensure_crd_established(api: ApiClient, timeout_s: float = 30.0) -> None:
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(_widget_crd())
    except ApiException as exc:
        if exc.status != 409:  # another test of this session created it already
            raise
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        crd = ext.read_custom_resource_definition(CRD_NAME)
        conditions = (crd.status.conditions if crd.status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError(f"CRD {CRD_NAME} not Established within {timeout_s}s")


def _create_widget(api: ApiClient, namespace: str, name: str, spec: dict) -> dict:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name}, "spec": spec}
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + 10.0
    while True:  # the resource can 404 for a moment after Established while handlers install
        try:
            return custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_configmap_roundtrip_and_duplicate_is_409(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, _configmap("settings", {"mode": "fast"}))
    assert created.metadata.uid
    assert created.metadata.resource_version

    read = core.read_namespaced_config_map("settings", namespace)
    assert read.data == {"mode": "fast"}
    assert read.metadata.uid == created.metadata.uid

    with pytest.raises(ApiException) as excinfo:
        core.create_namespaced_config_map(namespace, _configmap("settings", {"mode": "slow"}))
    assert excinfo.value.status == 409
    assert "AlreadyExists" in (excinfo.value.body or "")
    assert core.read_namespaced_config_map("settings", namespace).data == {"mode": "fast"}


def test_stale_resource_version_update_is_409(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map(namespace, _configmap("versioned", {"n": "1"}))
    first.data = {"n": "2"}
    core.replace_namespaced_config_map("versioned", namespace, first)  # bumps resourceVersion

    first.data = {"n": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as excinfo:
        core.replace_namespaced_config_map("versioned", namespace, first)
    assert excinfo.value.status == 409
    assert core.read_namespaced_config_map("versioned", namespace).data == {"n": "2"}


def test_list_with_limit_and_continue_pages_through_everything(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    expected = {f"page-{i:02d}" for i in range(7)}
    for name in sorted(expected):
        core.create_namespaced_config_map(namespace, _configmap(name, {"name": name}))

    seen: list[str] = []
    page_sizes: list[int] = []
    token: str | None = None
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        page_sizes.append(len(page.items))
        seen.extend(item.metadata.name for item in page.items)
        token = page.metadata._continue
        if not token:
            break

    # kube-root-ca.crt is published by a controller, which does not run here: only our objects exist.
    assert sorted(seen) == sorted(expected)
    assert page_sizes == [3, 3, 1]


def test_crd_established_then_custom_resource_roundtrip(api: ApiClient, namespace: str) -> None:
    _ensure_crd_established(api)
    created = _create_widget(api, namespace, "blue-one", {"size": 3, "color": "blue"})
    assert created["metadata"]["uid"]

    custom = client.CustomObjectsApi(api)
    read = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "blue-one")
    assert read["spec"] == {"size": 3, "color": "blue"}

    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["blue-one"]

    with pytest.raises(ApiException) as excinfo:
        _create_widget(api, namespace, "blue-one", {"size": 4})
    assert excinfo.value.status == 409


def test_custom_resource_schema_validation_is_enforced(api: ApiClient, namespace: str) -> None:
    _ensure_crd_established(api)
    with pytest.raises(ApiException) as excinfo:
        _create_widget(api, namespace, "too-small", {"size": 0})
    assert excinfo.value.status == 422
    with pytest.raises(ApiException) as excinfo:
        _create_widget(api, namespace, "no-size", {"color": "red"})
    assert excinfo.value.status == 422


def test_target_apiserver_is_independent(kube_env: KubeEnv, kube_env_target: KubeEnv) -> None:
    assert kube_env.server != kube_env_target.server
    source_api = kube_env.api_client()
    target_api = kube_env_target.api_client()
    try:
        name = f"only-source-{uuid.uuid4().hex[:8]}"
        client.CoreV1Api(source_api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        )
        with pytest.raises(ApiException) as excinfo:
            client.CoreV1Api(target_api).read_namespace(name)
        assert excinfo.value.status == 404
        # The target takes the same object: a fresh cluster, ready to be restored into.
        made = client.CoreV1Api(target_api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        )
        assert made.metadata.name == name
    finally:
        source_api.close()
        target_api.close()
