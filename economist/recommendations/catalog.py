"""The shipped price tables (data/sizes.csv: instance sizes with vCPU, memory and hourly price; data/
discounts.yaml: commitment, spot and storage-tier discounts), read as Decimal, and provider-name mapping."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
SIZES_FILE = DATA / "sizes.csv"
DISCOUNTS_FILE = DATA / "discounts.yaml"

#: FOCUS ProviderName (lower case) -> the tables' provider key
PROVIDER_KEYS = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon": "aws",
    "microsoft": "azure",
    "azure": "azure",
    "microsoft azure": "azure",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "google": "gcp",
    "gcp": "gcp",
}


def provider_key(provider_name: str | None) -> str | None:
    """aws | azure | gcp for a ledger ProviderName; None for any other provider."""
    return PROVIDER_KEYS.get((provider_name or "").strip().lower())


@dataclass(frozen=True)
class Size:
    """One instance size of the size/price table."""

    provider: str
    family: str
    name: str
    vcpu: Decimal
    memory_gib: Decimal
    hourly_price: Decimal


@dataclass(frozen=True)
class Commitment:
    """One commitment offering: its discount off on-demand, term and share paid up front."""

    name: str
    kind: str
    term_months: int
    payment: str
    upfront: Decimal
    discount: Decimal


@dataclass(frozen=True)
class StorageTier:
    """A move from a standard object-storage tier to an infrequent-access one (prices per GB-month)."""

    source: str
    source_price: Decimal
    target: str
    target_price: Decimal


@dataclass(frozen=True)
class Discounts:
    """The discount table: commitments, spot and storage tiers by provider key."""

    commitments: dict[str, list[Commitment]] = field(default_factory=dict)
    spot: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    storage_tiers: dict[str, StorageTier] = field(default_factory=dict)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, float | bool):
        raise ValueError(f'{where}: write amounts as strings ("0.28"), not YAML numbers')
    return Decimal(str(value))


def load_discounts(path: Path | None = None) -> Discounts:
    """The discount table from `path` (default: the shipped data/discounts.yaml); raises ValueError."""
    source = path or DISCOUNTS_FILE
    document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    commitments = {
        provider: [
            Commitment(
                name=str(o["name"]),
                kind=str(o["kind"]),
                term_months=int(o["term_months"]),
                payment=str(o["payment"]),
                upfront=_decimal(o.get("upfront", "0"), f"{source}: commitments.{provider}"),
                discount=_decimal(o["discount"], f"{source}: commitments.{provider}"),
            )
            for o in offerings
        ]
        for provider, offerings in (document.get("commitments") or {}).items()
    }
    spot = {
        provider: (str(v["name"]), _decimal(v["discount"], f"{source}: spot.{provider}"))
        for provider, v in (document.get("spot") or {}).items()
    }
    tiers = {
        provider: StorageTier(
            source=str(v["from"]),
            source_price=_decimal(v["from_price"], f"{source}: storage_tiers.{provider}"),
            target=str(v["to"]),
            target_price=_decimal(v["to_price"], f"{source}: storage_tiers.{provider}"),
        )
        for provider, v in (document.get("storage_tiers") or {}).items()
    }
    return Discounts(commitments=commitments, spot=spot, storage_tiers=tiers)


class SizeTable:
    """Instance sizes by name and family, and the size named in a billing line's text."""

    def __init__(self, sizes: list[Size]) -> None:
        self.sizes = sizes
        self.by_name = {s.name.lower(): s for s in sizes}
        spellings: dict[str, Size] = {}
        for s in sizes:
            spellings[s.name.lower()] = s
            # Azure meters say "D4s v5" where the size is Standard_D4s_v5
            short = s.name.lower().removeprefix("standard_")
            spellings.setdefault(short, s)
            spellings.setdefault(short.replace("_", " "), s)
        names = sorted(spellings, key=len, reverse=True)
        self._spellings = spellings
        self._pattern = re.compile(
            r"(?<![\w.-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.IGNORECASE
        )

    def get(self, name: str | None) -> Size | None:
        return self.by_name.get((name or "").strip().lower())

    def find_in(self, *texts: str | None) -> Size | None:
        """The first size named in any of `texts` (e.g. "$0.192 per On Demand Linux m5.xlarge Instance Hour")."""
        for text in texts:
            if text:
                match = self._pattern.search(text)
                if match:
                    return self._spellings[match.group(1).lower()]
        return None

    def family(self, size: Size) -> list[Size]:
        """The sizes of `size`'s family, smallest (cheapest) first."""
        members = [s for s in self.sizes if s.provider == size.provider and s.family == size.family]
        return sorted(members, key=lambda s: (s.hourly_price, s.vcpu, s.memory_gib))


def load_sizes(path: Path | None = None) -> SizeTable:
    """The size/price table from `path` (default: the shipped data/sizes.csv)."""
    with (path or SIZES_FILE).open(encoding="utf-8", newline="") as handle:
        sizes = [
            Size(
                provider=row["provider"].strip().lower(),
                family=row["family"].strip(),
                name=row["size"].strip(),
                vcpu=Decimal(row["vcpu"]),
                memory_gib=Decimal(row["memory_gib"]),
                hourly_price=Decimal(row["hourly_price"]),
            )
            for row in csv.DictReader(handle)
        ]
    return SizeTable(sizes)


@cache
def shipped_sizes() -> SizeTable:
    return load_sizes()
