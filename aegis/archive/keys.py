"""The encryption keys an archive may be sealed with: a ring of id -> raw AES-256 key, one of them current.

New archives are sealed with the current key and name its id in their header; an archive is opened with
the key its header names, so old keys stay configured (for reading only) until nothing uses them.
Key ids are short ASCII names (``2026-12``, ``prod.a``): letters, digits, ``.``, ``_``, ``-``, at most 64.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: the id the single-key setting (``OCO_AEGIS_ENCRYPTION_KEY``) maps to.
DEFAULT_KEY_ID = "default"
KEY_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_KEY_ID = re.compile(KEY_ID_PATTERN)


class UnknownKeyError(KeyError):
    """No configured key has this id."""


def validate_key_id(key_id: str) -> str:
    """``key_id`` if well formed, else ValueError (ids are not secret: the message names it)."""
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise ValueError(f"invalid key id {key_id!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    return key_id


@dataclass(frozen=True)
class KeyRing:
    """Configured keys by id and the id new archives are sealed with (None: write unencrypted)."""

    keys: Mapping[str, bytes] = field(default_factory=dict)
    current_id: str | None = None

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            validate_key_id(key_id)
            if len(key) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes")
        if self.current_id is not None and self.current_id not in self.keys:
            raise ValueError(f"current key id {self.current_id!r} is not among the configured keys")

    @classmethod
    def single(cls, key: bytes | None, key_id: str = DEFAULT_KEY_ID) -> KeyRing:
        """One key, current (or an empty ring for None)."""
        return cls({key_id: key}, key_id) if key is not None else cls()

    @property
    def current_key(self) -> bytes | None:
        return self.keys[self.current_id] if self.current_id is not None else None

    @property
    def encrypts(self) -> bool:
        """Whether new archives are encrypted."""
        return self.current_id is not None

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.keys

    def ids(self) -> list[str]:
        return sorted(self.keys)

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKeyError(key_id) from None

    def legacy_candidates(self) -> list[tuple[str | None, bytes]]:
        """Keys to try on an archive that names none (written before key ids): the default id's first
        (the single-key setting wrote those), then the current one, then the rest by id."""
        order = [DEFAULT_KEY_ID, self.current_id, *self.ids()]
        seen: list[str] = []
        for key_id in order:
            if key_id is not None and key_id in self.keys and key_id not in seen:
                seen.append(key_id)
        return [(key_id, self.keys[key_id]) for key_id in seen]
