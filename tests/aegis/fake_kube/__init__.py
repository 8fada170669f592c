"""An in-process fake Kubernetes API server for Aegis tests, driven through the official client."""

from tests.aegis.fake_kube.server import WRITE_VERBS, FakeKube, FakeKubeServer, Fault, RecordedRequest

__all__ = ["WRITE_VERBS", "FakeKube", "FakeKubeServer", "Fault", "RecordedRequest"]
