"""Routes of /api/v1/clusters: the registered clusters with their reachability and version."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from aegis.clusters.schemas import ClusterList
from aegis.clusters.service import ClusterService
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"])
Caller = Annotated[Principal, Depends(require_scope("aegis"))]


def cluster_service(request: Request) -> ClusterService:
    return request.app.state.clusters


@router.get(
    "",
    response_model=ClusterList,
    summary="Registered clusters (OCO_AEGIS_CLUSTERS) with reachability and server version",
    responses=AUTH_ERRORS,
)
async def list_clusters(
    _: Caller, service: Annotated[ClusterService, Depends(cluster_service)]
) -> ClusterList:
    return ClusterList(items=await service.list())
