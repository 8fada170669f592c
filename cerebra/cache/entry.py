"""A cached answer: the final chat.completion object, what the original call cost, and who answered it;
stored as one JSON document, read back defensively (an unreadable entry is a miss)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

ENTRY_VERSION = 1


@dataclass(slots=True)
class CachedAnswer:
    completion: dict[str, Any]
    cost: Decimal | None  # None: the original call was unpriced
    provider: str | None
    model: str | None

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "v": ENTRY_VERSION,
                "completion": self.completion,
                "cost": None if self.cost is None else str(self.cost),
                "provider": self.provider,
                "model": self.model,
            }
        )

    @classmethod
    def loads(cls, data: bytes) -> CachedAnswer | None:
        try:
            doc = orjson.loads(data)
            if doc.get("v") != ENTRY_VERSION or not isinstance(doc.get("completion"), dict):
                return None
            cost = doc.get("cost")
            return cls(
                completion=doc["completion"],
                cost=None if cost is None else Decimal(cost),
                provider=doc.get("provider"),
                model=doc.get("model"),
            )
        except (orjson.JSONDecodeError, AttributeError, InvalidOperation, TypeError):
            return None
