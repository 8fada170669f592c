"""List pagination for every service: the `limit`/`offset` query parameters with ONE cap (PageParams),
the page model with its total (Page[T]), and paginate(conn, statement, params): the count and the page."""

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

#: the largest page any list route returns
MAX_PAGE_SIZE = 1000
#: the largest offset any list route accepts (deeper pages: narrow the filters)
MAX_OFFSET = 10_000_000
DEFAULT_PAGE_SIZE = 50

T = TypeVar("T")


@dataclass(frozen=True)
class PageParams:
    """Which page of a list: at most `limit` items after the first `offset`."""

    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"items per page (at most {MAX_PAGE_SIZE})")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
) -> PageParams:
    """The FastAPI dependency of a list route's `limit` and `offset`."""
    return PageParams(limit=limit, offset=offset)


#: a list route's parameter: `page: Pagination`
Pagination = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list and how many items the whole list holds."""

    items: list[T]
    total: int
    limit: int
    offset: int


async def paginate(
    conn: AsyncConnection, statement: sa.Select[Any], params: PageParams
) -> tuple[list[dict[str, Any]], int]:
    """The rows of `statement` (ordered, filtered) on the page `params` names, and how many rows it has."""
    counted = sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
    total = (await conn.execute(counted)).scalar_one()
    rows = (await conn.execute(statement.limit(params.limit).offset(params.offset))).mappings()
    return [dict(r) for r in rows], int(total)
