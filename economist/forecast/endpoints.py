"""Route of /api/v1/costs/forecast: Holt-Winters forecast with interval and backtest, total and per group."""

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from economist.costs.endpoints import GROUP_HELP, QUERY_ERRORS, base_query
from economist.costs.params import CostQuery, parse_group_by
from economist.forecast.schemas import ForecastResponse, SeriesForecast, series_parts
from economist.forecast.service import PERIOD, ForecastService
from economist.settings import EconomistSettings
from oco.auth import Principal, require_scope

router = APIRouter(prefix="/api/v1/costs", tags=["forecast"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def forecast_service(request: Request) -> ForecastService:
    settings: EconomistSettings = request.app.state.settings
    return ForecastService(request.app.state.database, settings.oco_economist_default_currency)


@router.get(
    "/forecast",
    response_model=ForecastResponse,
    summary="Forecast daily spend (Holt-Winters, weekly season) with a prediction interval and its backtest",
    responses=QUERY_ERRORS,
)
async def forecast(
    request: Request,
    _: Caller,
    service: Annotated[ForecastService, Depends(forecast_service)],
    query: Annotated[CostQuery, Depends(base_query)],
    horizon: Annotated[int, Query(ge=1, le=365)] = 30,
    group_by: Annotated[str | None, Query(max_length=500, description=GROUP_HELP)] = None,
    history_days: Annotated[
        int, Query(ge=7, le=730, description="days of history the model learns from")
    ] = 90,
    interval: Annotated[float, Query(gt=0.5, lt=1.0, description="prediction interval coverage")] = 0.95,
    max_groups: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ForecastResponse:
    settings: EconomistSettings = request.app.state.settings
    dims = parse_group_by(group_by, settings.tag_normalizer)
    # history ends at `to` when given, else the day after the last cost (billing data lags a day or two)
    end = query.end if "to" in request.query_params else (await service.history_end(query) or query.end)
    history = replace(query, start=end - timedelta(days=history_days), end=end, group_by=dims)
    data = await service.forecast(history, horizon, interval, max_groups)
    total = series_parts(data["total"], data["future"])
    return ForecastResponse(
        currency=data["currency"],
        metric=data["metric"],
        seasonal_period=PERIOD,
        horizon=horizon,
        interval=interval,
        history_from=data["history_from"],
        history_to=data["history_to"],
        **total,
        groups=[SeriesForecast(**g["keys"], **series_parts(g, data["future"])) for g in data["groups"]],
    )
