"""The allocation's shared-cost rule: a filter in the cost API's syntax, from the request or the setting."""

from __future__ import annotations

from economist.costs.params import Filter, QueryError, parse_filter
from economist.settings import EconomistSettings


def shared_costs_filter(
    settings: EconomistSettings, override: str | None = None
) -> tuple[str | None, tuple[Filter, ...]]:
    """The shared-cost filter (`override`, else OCO_ECONOMIST_SHARED_COSTS) as text and parsed; an error
    names `shared_filter`."""
    text = (settings.oco_economist_shared_costs if override is None else override).strip() or None
    try:
        return text, parse_filter(text, settings.tag_normalizer)
    except QueryError as exc:
        source = "shared_filter" if override is not None else "OCO_ECONOMIST_SHARED_COSTS"
        raise QueryError(f"{source}: {exc.message.removeprefix('filter: ')}", "shared_filter") from None
