"""An open connection to one cluster: the official client's connection pool and credentials, handed out
as :class:`KubeTransport` objects. What the runners are given; the SDK's ApiClient stays in aegis/kube."""

from __future__ import annotations

from types import TracebackType

from kubernetes.client import ApiClient

from aegis.kube.transport import KubeTransport, RetryPolicy, close_wire_pool


class ClusterConnection:
    """Owns one ApiClient (its connections and auth); close it, or use it as a context manager."""

    def __init__(self, api_client: ApiClient) -> None:
        self._api_client = api_client

    def transport(
        self, retry: RetryPolicy | None = None, timeout: float | tuple[float, float] = (10.0, 120.0)
    ) -> KubeTransport:
        """JSON requests over this connection, retried per ``retry`` (thread-safe; share it freely)."""
        return KubeTransport(self._api_client, retry=retry, timeout=timeout)

    def close(self) -> None:
        close_wire_pool(self._api_client)
        self._api_client.close()

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
