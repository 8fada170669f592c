"""Route of /api/v1/anomalies: robust daily anomalies per service/account with their root causes."""

from dataclasses import replace
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from economist.anomalies.schemas import AnomaliesResponse, anomaly_out
from economist.anomalies.service import AnomalyService
from economist.costs.endpoints import base_query
from economist.costs.params import MAX_AMOUNT, ROLLUP_DIMENSIONS, CostQuery, QueryError, parse_group_by
from economist.settings import EconomistSettings
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.money import money_str, parse_money

router = APIRouter(prefix="/api/v1/anomalies", tags=["anomalies"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def anomaly_service(request: Request) -> AnomalyService:
    return AnomalyService(request.app.state.database)


def _min_cost(raw: str) -> Decimal:
    try:
        threshold = parse_money(raw)
    except ValueError as exc:
        raise QueryError(f"min_cost: {exc}", "min_cost") from None
    if not 0 <= threshold < MAX_AMOUNT:
        raise QueryError(f"min_cost must be at least 0 and below {MAX_AMOUNT:f}", "min_cost")
    return threshold


@router.get(
    "",
    response_model=AnomaliesResponse,
    response_model_exclude_none=False,
    summary="Anomalous days per service/account (median + MAD, weekly seasonality) with root causes",
    description="Series are per billing currency and never converted (`currency` is ignored); `from`/`to` "
    "bound the days judged, the 8 weeks before `from` are their history.",
    responses={**AUTH_ERRORS, 400: {"description": "a parameter cannot be understood"}},
)
async def anomalies(
    request: Request,
    _: Caller,
    service: Annotated[AnomalyService, Depends(anomaly_service)],
    query: Annotated[CostQuery, Depends(base_query)],
    group_by: Annotated[
        str,
        Query(max_length=200, description="series per: provider, service, account, region, charge_category"),
    ] = "service,account",
    min_cost: Annotated[
        str | None,
        Query(
            max_length=40, description="ignore days under this cost (default: OCO_ECONOMIST_ANOMALY_MIN_COST)"
        ),
    ] = None,
) -> AnomaliesResponse:
    settings: EconomistSettings = request.app.state.settings
    dims = parse_group_by(group_by, settings.tag_normalizer)
    if any(d.kind not in ROLLUP_DIMENSIONS for d in dims):
        raise QueryError(
            "group_by: anomalies group by provider, service, account, region, charge_category", "group_by"
        )
    threshold = settings.oco_economist_anomaly_min_cost if min_cost is None else _min_cost(min_cost)
    data = await service.find(replace(query, group_by=dims), Decimal(threshold))
    names = data["group_by"]
    return AnomaliesResponse(
        from_=data["from"],
        to=data["to"],
        metric=data["metric"],
        group_by=names,
        min_cost=money_str(data["min_cost"]) or "0",
        series_checked=data["series_checked"],
        anomalies=[anomaly_out(a, names) for a in data["anomalies"]],
    )
