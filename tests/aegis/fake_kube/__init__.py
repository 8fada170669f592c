"""An in-process fake Kubernetes API server for Aegis tests, driven through the official client."""

from tests.aegis.fake_kube.server import FakeKube, FakeKubeServer, Fault, RecordedRequest

__all__ = ["FakeKube", "FakeKubeServer", "Fault", "RecordedRequest"]
