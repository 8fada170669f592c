"""The clusters capability: list the registered clusters and check each one's reachability in parallel, and
refuse to start a run on a cluster known (or just found) unreachable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aegis.clusters.schemas import Cluster
from aegis.kube.clusters import ClusterRegistry, Reachability
from oco.errors import Conflict, InvalidRequest

#: How long a reachability answer (from a listing or an earlier admission) is trusted when admitting a run.
FRESH_FOR_S = 10.0
#: The longest a request waits for the probe of a cluster whose state is not fresh.
ADMISSION_PROBE_TIMEOUT_S = 2.0


class ClusterService:
    def __init__(
        self,
        registry: ClusterRegistry,
        *,
        check_timeout_s: float = 5.0,
        fresh_for_s: float = FRESH_FOR_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.check_timeout_s = check_timeout_s
        self.fresh_for_s = fresh_for_s
        self._clock = clock
        self._known: dict[str, tuple[float, Reachability]] = {}  # name -> (checked at, answer)

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

    async def require_reachable(self, name: str, *, param: str = "cluster") -> None:
        """Nothing when the (registered) cluster answers: its fresh known state, else one quick GET /version.
        Raises Conflict ``cluster_unreachable`` with the reason (secret-free) when it does not."""
        known = self._known.get(name)
        if known is not None and self._clock() - known[0] < self.fresh_for_s:
            check = known[1]
        else:
            check = await self._check(name, min(self.check_timeout_s, ADMISSION_PROBE_TIMEOUT_S))
        if not check.reachable:
            raise Conflict(
                f"cluster {name!r} is unreachable: {check.error}", param=param, code="cluster_unreachable"
            )

    async def list(self) -> list[Cluster]:
        """Every cluster with a fresh GET /version (concurrent, each bounded by the check timeout)."""
        names = self.registry.names()
        checks = await asyncio.gather(*(self._check(name, self.check_timeout_s) for name in names))
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

    async def _check(self, name: str, timeout_s: float) -> Reachability:
        check = await asyncio.to_thread(self.registry.check, name, timeout_s)
        self._known[name] = (self._clock(), check)
        return check
