"""Routes of /api/v1/routes and /api/v1/prices (scope `admin`): aliases and prices changed over HTTP,
validated as the route file is, stored in the database and applied by every replica without a restart
(at once on the one that took the write, within OCO_CEREBRA_CONTROL_REFRESH_S on the others).

Guards, since an admin key is not the operator's shell: a deployment's `api_base` must resolve to public
addresses unless OCO_OUTBOUND_ALLOW_HOSTS names it (no SSRF), and its `api_key_env` may only name a
provider's default variable, one the route file already uses, or one starting with OCO_CEREBRA_KEY_
(so no API call can send, say, POSTGRES_PASSWORD to a server of its choosing)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cerebra.admin.endpoints import Admin, Service
from cerebra.control.tables import cerebra_prices, cerebra_routes
from cerebra.routing.table import DEFAULT_KEY_ENVS, RouteSpec, RouteTableError, RouteTableSource, key_env_of
from oco import audit
from oco.app import AUTH_ERRORS
from oco.errors import InvalidRequest, NotFound
from oco.money import money_str
from oco.netguard import AddressPolicy, Refused
from oco.timeutil import utcnow

router = APIRouter(prefix="/api/v1", tags=["routes and prices"])
AliasPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/*-]*$")]
ModelPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")]
API_KEY_ENV_PREFIX = "OCO_CEREBRA_KEY_"


class RouteOut(BaseModel):
    alias: str
    origin: str = Field(description="api (set here), or where the rest of the table comes from")
    spec: dict[str, Any]


class RouteList(BaseModel):
    items: list[RouteOut]


class PriceIn(BaseModel):
    """PUT /api/v1/prices/{model}: USD per 1M tokens from a day on (decimal strings)."""

    model_config = ConfigDict(extra="forbid")

    effective_from: date
    input: Decimal = Field(ge=0, lt=1_000_000, decimal_places=6)
    output: Decimal = Field(ge=0, lt=1_000_000, decimal_places=6)
    cached_input: Decimal | None = Field(None, ge=0, lt=1_000_000, decimal_places=6)
    cache_write_5m: Decimal | None = Field(None, ge=0, lt=1_000_000, decimal_places=6)
    cache_write_1h: Decimal | None = Field(None, ge=0, lt=1_000_000, decimal_places=6)


class PriceOut(BaseModel):
    model: str
    effective_from: date
    input: str
    output: str
    cached_input: str | None
    cache_write_5m: str | None
    cache_write_1h: str | None


class PriceList(BaseModel):
    items: list[PriceOut]


def _routes(request: Request) -> RouteTableSource:
    return request.app.state.gateway.routes


def _price_out(row: Any) -> PriceOut:
    return PriceOut(
        model=row["model"],
        effective_from=row["effective_from"],
        **{k: money_str(Decimal(str(row[k]))) if row[k] is not None else None for k in PRICE_COLUMNS},
    )


PRICE_COLUMNS = ("input", "output", "cached_input", "cache_write_5m", "cache_write_1h")


async def _check_spec(request: Request, alias: str, spec: RouteSpec, source: RouteTableSource) -> None:
    settings = request.app.state.settings
    policy = AddressPolicy.parse(settings.oco_outbound_allow_hosts, setting="OCO_OUTBOUND_ALLOW_HOSTS")
    file_envs = {
        key_env_of(d.provider, d.api_key_env)
        for route in source.check_overlay({}).document.models.values()
        for d in route.deployments
    }
    for i, deployment in enumerate(spec.deployments):
        where = f"deployments.{i}"
        if deployment.api_base:
            try:
                await policy.check(deployment.api_base, what="api_base")
            except Refused as exc:
                raise InvalidRequest(
                    str(exc), param=f"{where}.api_base", code="api_base_not_allowed"
                ) from None
        env = deployment.api_key_env
        if (
            env
            and env not in DEFAULT_KEY_ENVS.values()
            and env not in file_envs
            and not env.startswith(API_KEY_ENV_PREFIX)
        ):
            raise InvalidRequest(
                f"api_key_env may name a provider's default variable, one the route file uses, or one starting "
                f"with {API_KEY_ENV_PREFIX}",
                param=f"{where}.api_key_env",
                code="key_variable_not_allowed",
            )
    try:
        overlay = {**source.overlay, alias: spec}
        source.check_overlay(overlay)
    except RouteTableError as exc:
        raise InvalidRequest(str(exc), param=alias, code="invalid_route") from None


@router.get(
    "/routes", response_model=RouteList, summary="The route table in effect, and where each alias comes from"
)
async def list_routes(request: Request, _: Admin) -> RouteList:
    source = _routes(request)
    table = source.current()
    api = set(source.overlay)
    return RouteList(
        items=[
            RouteOut(
                alias=alias,
                origin="api" if alias in api else source.origin,
                spec=spec.model_dump(exclude_none=True),
            )
            for alias, spec in table.document.models.items()
        ]
    )


@router.put(
    "/routes/{alias}",
    response_model=RouteOut,
    summary="Add or replace an alias (validated like the route file; applied without a restart)",
    responses=AUTH_ERRORS,
)
async def put_route(
    alias: AliasPath, body: dict[str, Any], request: Request, actor: Admin, service: Service
) -> RouteOut:
    try:
        spec = RouteSpec.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(first["msg"], param=".".join(str(p) for p in first["loc"])) from None
    source = _routes(request)
    await _check_spec(request, alias, spec, source)
    stored = spec.model_dump(mode="json", exclude_none=True)
    now = utcnow()
    async with service.database.session() as session:
        before = (
            (await session.execute(sa.select(cerebra_routes).where(cerebra_routes.c.alias == alias)))
            .mappings()
            .first()
        )
        if before is None:
            await session.execute(
                cerebra_routes.insert().values(alias=alias, spec=stored, created_at=now, updated_at=now)
            )
        else:
            await session.execute(
                cerebra_routes.update()
                .where(cerebra_routes.c.alias == alias)
                .values(spec=stored, updated_at=now)
            )
        await audit.record(
            session,
            service="cerebra",
            actor=actor,
            action="update" if before else "create",
            entity="route",
            entity_id=alias,
            before=dict(before) if before else None,
            after={"alias": alias, "spec": stored},
        )
    await service.rules_changed()
    return RouteOut(alias=alias, origin="api", spec=stored)


@router.delete(
    "/routes/{alias}", status_code=204, summary="Remove an alias set through the API", responses=AUTH_ERRORS
)
async def delete_route(alias: AliasPath, actor: Admin, service: Service) -> Response:
    async with service.database.session() as session:
        before = (
            (await session.execute(sa.select(cerebra_routes).where(cerebra_routes.c.alias == alias)))
            .mappings()
            .first()
        )
        if before is None:
            raise NotFound(
                f"no alias {alias!r} was set through the API (aliases of the route file are changed there)"
            )
        await session.execute(cerebra_routes.delete().where(cerebra_routes.c.alias == alias))
        await audit.record(
            session,
            service="cerebra",
            actor=actor,
            action="delete",
            entity="route",
            entity_id=alias,
            before=dict(before),
        )
    await service.rules_changed()
    return Response(status_code=204)


@router.get(
    "/prices", response_model=PriceList, summary="Price rows set through the API (over the shipped table)"
)
async def list_prices(_: Admin, service: Service) -> PriceList:
    async with service.database.sessions() as session:
        rows = (
            (
                await session.execute(
                    sa.select(cerebra_prices).order_by(
                        cerebra_prices.c.model, cerebra_prices.c.effective_from
                    )
                )
            )
            .mappings()
            .all()
        )
    return PriceList(items=[_price_out(r) for r in rows])


@router.put(
    "/prices/{model}",
    response_model=PriceOut,
    summary="Set a model's prices from a day on (USD per 1M tokens); every deployment of it is repriced",
    responses=AUTH_ERRORS,
)
async def put_price(model: ModelPath, body: PriceIn, actor: Admin, service: Service) -> PriceOut:
    values = {**body.model_dump(), "model": model, "updated_at": utcnow()}
    async with service.database.session() as session:
        where = (cerebra_prices.c.model == model, cerebra_prices.c.effective_from == body.effective_from)
        before = (await session.execute(sa.select(cerebra_prices).where(*where))).mappings().first()
        if before is None:
            await session.execute(cerebra_prices.insert().values(**values))
        else:
            await session.execute(cerebra_prices.update().where(*where).values(**values))
        await audit.record(
            session,
            service="cerebra",
            actor=actor,
            action="update" if before else "create",
            entity="price",
            entity_id=f"{model}@{body.effective_from}",
            before=dict(before) if before else None,
            after=values,
        )
    await service.rules_changed()
    return _price_out(values)


@router.delete(
    "/prices/{model}",
    status_code=204,
    summary="Remove a price row set through the API",
    responses=AUTH_ERRORS,
)
async def delete_price(
    model: ModelPath, actor: Admin, service: Service, effective_from: Annotated[date, Query()]
) -> Response:
    async with service.database.session() as session:
        where = (cerebra_prices.c.model == model, cerebra_prices.c.effective_from == effective_from)
        before = (await session.execute(sa.select(cerebra_prices).where(*where))).mappings().first()
        if before is None:
            raise NotFound(f"no price row for {model} from {effective_from}")
        await session.execute(cerebra_prices.delete().where(*where))
        await audit.record(
            session,
            service="cerebra",
            actor=actor,
            action="delete",
            entity="price",
            entity_id=f"{model}@{effective_from}",
            before=dict(before),
        )
    await service.rules_changed()
    return Response(status_code=204)
