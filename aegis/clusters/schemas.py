"""Response models of /api/v1/clusters."""

from __future__ import annotations

from pydantic import BaseModel


class Cluster(BaseModel):
    """A registered cluster: how it is reached (context name or in-cluster) and whether it answers now.
    Kubeconfig contents, paths and tokens are never returned."""

    name: str
    context: str | None
    in_cluster: bool
    reachable: bool
    version: str | None
    error: str | None


class ClusterList(BaseModel):
    items: list[Cluster]
