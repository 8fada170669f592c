"""Shared request parameter types: database row ids bounded to what the integer columns hold."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

MAX_ROW_ID = 2**31 - 1

RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="row id")]
RowIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
RowIdField = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
