"""Named clusters from the ``OCO_AEGIS_CLUSTERS`` YAML file -> a :class:`ClusterConnection` (the official client).

Synchronous. Kubeconfig contents and tokens never appear in reprs, errors or results: only the
cluster name, the kubeconfig *path* and the context name are ever shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from aegis.kube.connection import ClusterConnection
from aegis.kube.transport import KubeAPIError, KubeTransport, RetryPolicy

ENV_VAR = "OCO_AEGIS_CLUSTERS"
#: urllib3 pool size per client (connections are opened on demand); covers a restore's parallelism.
DEFAULT_POOL_SIZE = 64


class ClusterConfigError(Exception):
    """A cluster that is not registered or whose credentials cannot be loaded (message is secret-free)."""


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach one cluster: a kubeconfig path (+ optional context) or in-cluster credentials."""

    name: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False

    def describe(self) -> dict[str, Any]:
        """Safe to return from the API: no file contents, no tokens."""
        if self.in_cluster:
            return {"name": self.name, "in_cluster": True}
        return {"name": self.name, "kubeconfig": self.kubeconfig, "context": self.context}


@dataclass(frozen=True)
class Reachability:
    reachable: bool
    version: str | None = None  # gitVersion, e.g. "v1.30.2"
    error: str | None = None


class ClusterRegistry:
    """The clusters named in the YAML file; :meth:`api_client` builds a fresh client per call."""

    def __init__(self, clusters: Mapping[str, ClusterConfig]) -> None:
        self._clusters = dict(clusters)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClusterRegistry:
        """Load the file named by ``OCO_AEGIS_CLUSTERS``; no variable means no clusters."""
        path = (env if env is not None else os.environ).get(ENV_VAR)
        return cls.from_file(path) if path else cls({})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClusterRegistry:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClusterConfigError(f"cannot read clusters file {os.fspath(path)}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            raise ClusterConfigError(f"clusters file {os.fspath(path)} is not valid YAML") from None
        return cls.from_mapping(data, base_dir=Path(path).parent)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base_dir: Path | None = None) -> ClusterRegistry:
        """Parse ``{"clusters": {name: {kubeconfig, context} | {in_cluster: true}}}``."""
        clusters_data = data.get("clusters") if isinstance(data, Mapping) else None
        if clusters_data is None:
            clusters_data = {}
        if not isinstance(clusters_data, Mapping):
            raise ClusterConfigError("'clusters' must be a mapping of name -> settings")
        clusters: dict[str, ClusterConfig] = {}
        for name, entry in clusters_data.items():
            clusters[str(name)] = _parse_entry(str(name), entry, base_dir)
        return cls(clusters)

    def names(self) -> list[str]:
        return sorted(self._clusters)

    def __contains__(self, name: object) -> bool:
        return name in self._clusters

    def get(self, name: str) -> ClusterConfig:
        try:
            return self._clusters[name]
        except KeyError:
            raise ClusterConfigError(f"unknown cluster {name!r}") from None

    def connect(self, name: str, pool_size: int = DEFAULT_POOL_SIZE) -> ClusterConnection:
        """A new connection to the cluster; the caller closes it (``with registry.connect(n) as c``).
        Raises ClusterConfigError when its credentials cannot be loaded."""
        return ClusterConnection(self.api_client(name, pool_size=pool_size))

    def api_client(self, name: str, pool_size: int = DEFAULT_POOL_SIZE) -> ApiClient:
        """A new official ApiClient for the cluster; the caller closes it (``with registry.api_client(n) as c``)."""
        return make_api_client(self.get(name), pool_size=pool_size)

    def check(self, name: str, timeout: float = 5.0) -> Reachability:
        """Load credentials and ask ``/version``; every failure becomes ``error`` text."""
        try:
            client = self.api_client(name, pool_size=1)
        except ClusterConfigError as exc:
            return Reachability(False, error=str(exc))
        with client:
            return check_reachability(client, timeout=timeout)


def make_api_client(cluster: ClusterConfig, pool_size: int = DEFAULT_POOL_SIZE) -> ApiClient:
    configuration = Configuration()
    if cluster.in_cluster:
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except kube_config.ConfigException:
            raise ClusterConfigError(
                f"cluster {cluster.name!r}: in-cluster credentials not available (not running in a pod?)"
            ) from None
    else:
        path = cluster.kubeconfig or ""
        _check_kubeconfig(cluster.name, path, cluster.context)
        try:
            kube_config.load_kube_config(
                config_file=path,
                context=cluster.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except Exception as exc:  # the loader's messages may quote the file: never pass them on
            raise ClusterConfigError(
                f"cluster {cluster.name!r}: cannot load kubeconfig {path} ({type(exc).__name__})"
            ) from None
    configuration.connection_pool_maxsize = max(pool_size, 1)
    return ApiClient(configuration=configuration)


def check_reachability(api_client: ApiClient, timeout: float = 5.0) -> Reachability:
    """GET /version once (no retries): the server's gitVersion, or the reason it cannot be reached."""
    transport = KubeTransport(api_client, retry=RetryPolicy(max_attempts=1), timeout=timeout)
    try:
        info = transport.get_json("/version")
    except KubeAPIError as exc:
        return Reachability(False, error=str(exc))
    except ValueError:
        return Reachability(False, error="the server's /version answer is not JSON")
    return Reachability(
        True, version=str(info.get("gitVersion") or f"v{info.get('major')}.{info.get('minor')}")
    )


def _parse_entry(name: str, entry: Any, base_dir: Path | None) -> ClusterConfig:
    if entry in ("in-cluster", "in_cluster"):
        return ClusterConfig(name=name, in_cluster=True)
    if not isinstance(entry, Mapping):
        raise ClusterConfigError(
            f"cluster {name!r}: expected {{kubeconfig, context}} or {{in_cluster: true}}"
        )
    if entry.get("in_cluster") or entry.get("in-cluster"):
        return ClusterConfig(name=name, in_cluster=True)
    kubeconfig = entry.get("kubeconfig")
    if not kubeconfig or not isinstance(kubeconfig, str):
        raise ClusterConfigError(
            f"cluster {name!r}: 'kubeconfig' (a file path) or 'in_cluster: true' is required"
        )
    path = Path(os.path.expanduser(kubeconfig))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    context = entry.get("context")
    return ClusterConfig(name=name, kubeconfig=str(path), context=str(context) if context else None)


def _check_kubeconfig(name: str, path: str, context: str | None) -> None:
    """Clear, secret-free errors for the common mistakes before the client's loader runs."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ClusterConfigError(f"cluster {name!r}: cannot read kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ClusterConfigError(f"cluster {name!r}: kubeconfig {path} is not valid YAML") from None
    if not isinstance(data, Mapping):
        raise ClusterConfigError(f"cluster {name!r}: kubeconfig {path} is not a kubeconfig")
    contexts = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, Mapping)]
    if context and context not in contexts:
        raise ClusterConfigError(
            f"cluster {name!r}: context {context!r} not in kubeconfig {path} (has: {', '.join(map(str, contexts))})"
        )
    if not context and not data.get("current-context"):
        raise ClusterConfigError(f"cluster {name!r}: kubeconfig {path} has no current-context; set 'context'")
