"""The clusters capability: list the registered clusters and check each one's reachability in parallel."""

from __future__ import annotations

import asyncio

from aegis.clusters.schemas import Cluster
from aegis.kube.clusters import ClusterRegistry
from oco.errors import InvalidRequest


class ClusterService:
    def __init__(self, registry: ClusterRegistry, *, check_timeout_s: float = 5.0) -> None:
        self.registry = registry
        self.check_timeout_s = check_timeout_s

    def names(self) -> list[str]:
        return self.registry.names()

    def require(self, name: str, *, param: str = "cluster") -> str:
        """The name when registered, else InvalidRequest naming the field."""
        if name not in self.registry:
            known = ", ".join(self.registry.names()) or "none (set OCO_AEGIS_CLUSTERS)"
            raise InvalidRequest(
                f"unknown cluster {name!r} (registered: {known})", param=param, code="unknown_cluster"
            )
        return name

    async def list(self) -> list[Cluster]:
        """Every cluster with a fresh GET /version (concurrent, each bounded by the check timeout)."""
        names = self.registry.names()
        checks = await asyncio.gather(
            *(asyncio.to_thread(self.registry.check, name, self.check_timeout_s) for name in names)
        )
        clusters = []
        for name, check in zip(names, checks, strict=True):
            config = self.registry.get(name)
            clusters.append(
                Cluster(
                    name=name,
                    context=config.context,
                    in_cluster=config.in_cluster,
                    reachable=check.reachable,
                    version=check.version,
                    error=check.error,
                )
            )
        return clusters
