"""SQL about the ledger as a whole: a row count bounded by a cap, cheap enough for the start-up line."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ledger.tables import cloud_costs


async def count_rows_up_to(conn: AsyncConnection, cap: int) -> int:
    """The ledger's row count, reading at most `cap + 1` rows (so a result above `cap` means "more")."""
    bounded = sa.select(sa.literal(1)).select_from(cloud_costs).limit(cap + 1).subquery()
    return int((await conn.execute(sa.select(sa.func.count()).select_from(bounded))).scalar_one())
