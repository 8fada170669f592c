"""Aegis fixtures: fake API servers (driven through the official client), storage locations, moto S3."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from kubernetes.client import ApiClient

from aegis.kube.clusters import ClusterRegistry
from aegis.storage.local import LocalStorage
from tests.aegis.fake_kube import FakeKubeServer
from tests.aegis.scenario import populate

MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-access-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeServer]:
    """The source cluster."""
    with FakeKubeServer(tmp_path) as server:
        yield server


@pytest.fixture
def target_kube(tmp_path: Path) -> Iterator[FakeKubeServer]:
    """A second, independent cluster (restore target)."""
    with FakeKubeServer(tmp_path) as server:
        yield server


@pytest.fixture
def client_for() -> Iterator[Callable[[FakeKubeServer], ApiClient]]:
    """Official ApiClients built the way the service builds them (ClusterRegistry); closed at teardown."""
    clients: list[ApiClient] = []

    def make(server: FakeKubeServer) -> ApiClient:
        registry = ClusterRegistry.from_mapping(
            {"clusters": {"c": {"kubeconfig": str(server.kubeconfig), "context": server.context}}}
        )
        client = registry.api_client("c")
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store", name="disk")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on an ephemeral loopback port: real S3 protocol over HTTP."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in MOTO_ENV}
    os.environ.update(MOTO_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_bucket(moto_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = "aegis-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def source(kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]) -> ApiClient:
    """The source cluster populated with the scenario (two app namespaces and friends)."""
    api = client_for(kube)
    populate(api)
    return api
