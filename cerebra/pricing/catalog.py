"""The built-in model catalog, read from the price table shipped in the package (`prices.yaml`): list
prices per million tokens (USD, Decimal) with the date each took effect, and declared capabilities.
A route's deployment can override any of these; a model in neither has no price (logged `unpriced`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1M tokens of one model from one date on. None: the provider publishes no such rate and
    those tokens are billed at the input rate."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    cache_write_5m_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model costs (from `effective_from` on) and can do."""

    prices: Prices | None = None
    effective_from: dt.date = dt.date(1970, 1, 1)
    context_window: int = 128_000
    max_output_tokens: int = 4096
    tools: bool = True
    vision: bool = False
    json_mode: bool = True
    embeddings: bool = False

    @property
    def input_per_mtok(self) -> Decimal | None:
        return self.prices.input_per_mtok if self.prices else None

    @property
    def output_per_mtok(self) -> Decimal | None:
        return self.prices.output_per_mtok if self.prices else None

    @property
    def cached_input_per_mtok(self) -> Decimal | None:
        return self.prices.cached_input_per_mtok if self.prices else None


PRICE_FIELDS = ("input", "output", "cached_input", "cache_write_5m", "cache_write_1h")


class PriceTableError(ValueError):
    """The shipped price table is malformed (a packaging bug: fails at import, never at request time)."""


def _money(row: dict[str, Any], name: str) -> Decimal | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PriceTableError(f"prices.yaml: {row.get('model')}.{name} must be a quoted decimal string")
    amount = Decimal(value)
    if amount < 0:
        raise PriceTableError(f"prices.yaml: {row.get('model')}.{name} is negative")
    return amount


def _model_info(row: dict[str, Any]) -> ModelInfo:
    unknown = (
        set(row)
        - {*PRICE_FIELDS, "model", "effective_from", "context_window", "max_output_tokens"}
        - {
            "tools",
            "vision",
            "json_mode",
            "embeddings",
        }
    )
    if unknown:
        raise PriceTableError(f"prices.yaml: {row.get('model')}: unknown fields {sorted(unknown)}")
    inp, out = _money(row, "input"), _money(row, "output")
    if inp is None or out is None:
        raise PriceTableError(f"prices.yaml: {row.get('model')} needs both input and output")
    embeddings = bool(row.get("embeddings", False))
    return ModelInfo(
        prices=Prices(
            inp,
            out,
            _money(row, "cached_input"),
            _money(row, "cache_write_5m"),
            _money(row, "cache_write_1h"),
        ),
        effective_from=dt.date.fromisoformat(str(row["effective_from"])),
        context_window=int(row["context_window"]),
        max_output_tokens=int(row["max_output_tokens"]),
        tools=bool(row.get("tools", not embeddings)),
        vision=bool(row.get("vision", not embeddings)),
        json_mode=bool(row.get("json_mode", not embeddings)),
        embeddings=embeddings,
    )


def load_price_table(text: str) -> dict[str, tuple[ModelInfo, ...]]:
    """Model name -> its rows, oldest first."""
    rows = yaml.safe_load(text)
    if not isinstance(rows, list):
        raise PriceTableError("prices.yaml: expected a list of rows")
    table: dict[str, list[ModelInfo]] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("model"), str):
            raise PriceTableError(f"prices.yaml: every row needs a model name: {row!r}"[:200])
        table.setdefault(row["model"], []).append(_model_info(row))
    return {name: tuple(sorted(infos, key=lambda i: i.effective_from)) for name, infos in table.items()}


HISTORY: dict[str, tuple[ModelInfo, ...]] = load_price_table(
    resources.files("cerebra.pricing").joinpath("prices.yaml").read_text(encoding="utf-8")
)


def _effective(rows: tuple[ModelInfo, ...], on: dt.date) -> ModelInfo:
    """The newest row in effect on `on` (the oldest when the day precedes them all)."""
    for info in reversed(rows):
        if info.effective_from <= on:
            return info
    return rows[0]


#: price rows set through cerebra's admin API (/api/v1/prices), loaded from the database by each replica:
#: model name -> rows that add to, or replace (same effective_from), the shipped table's rows
OVERRIDES: dict[str, tuple[ModelInfo, ...]] = {}


def _shipped(model: str) -> tuple[ModelInfo, ...] | None:
    rows = HISTORY.get(model)
    if rows is not None:
        return rows
    for name in sorted(HISTORY, key=len, reverse=True):
        if model.startswith(name):
            return HISTORY[name]
    return None


def history(model: str) -> tuple[ModelInfo, ...] | None:
    """All rows of a provider model name (exact, then the longest catalog name it starts with, so dated
    snapshots such as `gpt-4o-2024-08-06` take their family's prices), with the admin API's overrides."""
    rows = _shipped(model)
    extra = OVERRIDES.get(model)
    if not extra:
        return rows
    by_day = {row.effective_from: row for row in rows or ()}
    by_day.update({row.effective_from: row for row in extra})
    return tuple(by_day[day] for day in sorted(by_day))


def set_overrides(rows: dict[str, list[tuple[dt.date, Prices]]]) -> bool:
    """Replace the admin API's price rows; capabilities come from the shipped row of the model (or the
    defaults for a model the table does not know). True when anything changed."""
    built: dict[str, tuple[ModelInfo, ...]] = {}
    for model, dated in rows.items():
        shipped = _shipped(model)
        template = shipped[-1] if shipped else ModelInfo()
        built[model] = tuple(
            replace(template, prices=prices, effective_from=day)
            for day, prices in sorted(dated, key=lambda r: r[0])
        )
    if built == OVERRIDES:
        return False
    OVERRIDES.clear()
    OVERRIDES.update(built)
    return True


def lookup(model: str, on: dt.date | None = None) -> ModelInfo | None:
    """Catalog entry of a model in effect on `on` (default: today, UTC)."""
    rows = history(model)
    if rows is None:
        return None
    return _effective(rows, on or dt.datetime.now(dt.UTC).date())


# The built-in mock provider: priced at 0 on purpose (a known price of zero, not "unpriced").
MOCK_MODEL_INFO = ModelInfo(
    Prices(Decimal("0"), Decimal("0"), Decimal("0"), Decimal("0"), Decimal("0")),
    dt.date(1970, 1, 1),
    128_000,
    16_384,
    True,
    True,
    True,
    True,
)
