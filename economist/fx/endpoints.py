"""Routes of /api/v1/fx-rates: load dated rates as JSON or CSV, and list them."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from economist.fx.schemas import RateOut, RatePage, RatesIn, RatesLoaded
from economist.fx.service import FxService, normalize_rate, parse_rates_csv
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.errors import BadRequest, PayloadTooLarge
from oco.pagination import Pagination

router = APIRouter(prefix="/api/v1/fx-rates", tags=["fx-rates"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]
MAX_CSV_BYTES = 20 * 1024 * 1024


def fx_service(request: Request) -> FxService:
    return FxService(request.app.state.database)


Service = Annotated[FxService, Depends(fx_service)]


@router.post(
    "",
    status_code=201,
    response_model=RatesLoaded,
    summary="Load dated exchange rates (1 base = rate quote); a rate for an existing pair and date replaces it",
    responses={**AUTH_ERRORS, 400: {"description": "an invalid rate"}},
)
async def load_rates(body: RatesIn, _: Caller, service: Service) -> RatesLoaded:
    rates = [normalize_rate(r.model_dump(), f"rates[{i}]", "rates") for i, r in enumerate(body.rates)]
    return RatesLoaded(loaded=await service.load(rates, body.source))


@router.post(
    "/csv",
    status_code=201,
    response_model=RatesLoaded,
    summary="Load exchange rates from a CSV body with the header date,base,quote,rate",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
    responses={
        **AUTH_ERRORS,
        400: {"description": "a bad line (its number is in the message)"},
        413: {"description": "over 20 MB"},
    },
)
async def load_rates_csv(
    request: Request, _: Caller, service: Service, source: Annotated[str | None, Query(max_length=200)] = None
) -> RatesLoaded:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_CSV_BYTES:
            raise PayloadTooLarge("the CSV exceeds 20 MB")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the CSV is not UTF-8: {exc}", code="invalid_rate") from None
    rates = parse_rates_csv(text)
    return RatesLoaded(loaded=await service.load(rates, source))


@router.get("", response_model=RatePage, summary="List loaded exchange rates", responses=AUTH_ERRORS)
async def list_rates(
    _: Caller,
    service: Service,
    page: Pagination,
    base: Annotated[str | None, Query(max_length=8)] = None,
    quote: Annotated[str | None, Query(max_length=8)] = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> RatePage:
    rows, total = await service.list(
        base=base.upper() if base else None,
        quote=quote.upper() if quote else None,
        start=start,
        end=end,
        page=page,
    )
    return RatePage(
        items=[RateOut.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )
