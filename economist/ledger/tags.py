"""Tag normalization for grouping: split camelCase, fold key case and '-'/'_' (configurable); raw tags kept.

`TagNormalizer().normalize({"CostCenter": "A"})` -> `{"cost_center": "A"}`; the ledger keeps the raw dict in
`tags` and grouping uses the normalized keys, so `CostCenter`, `cost-center` and `cost_center` are one group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SEPARATORS = re.compile(r"[-_\s]+")
#: a word boundary inside camelCase: lower/digit then upper ("costCenter"), or an acronym's end ("AWSAccount")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


#: THE rule for a tag key a caller names (group_by, filter, dimension, budget and policy scopes, required
#: tags): 1 to 128 letters, digits, spaces and `_ . : / = + - @` (what AWS allows; Azure and GCP keys fit
#: too). No NUL, quote, backslash or parenthesis: a key becomes a JSON path on SQLite, built only from keys
#: that pass this rule.
TAG_KEY_RULE = re.compile(r"[\w .:/=+@-]{1,128}")
TAG_KEY_HELP = "a tag key is 1 to 128 letters, digits, spaces or _ . : / = + - @"


def is_valid_tag_key(key: str) -> bool:
    """Whether `key` satisfies TAG_KEY_RULE."""
    return TAG_KEY_RULE.fullmatch(key) is not None


def check_tag_key(key: str) -> str:
    """`key` when it satisfies TAG_KEY_RULE, else ValueError (the key itself is not echoed)."""
    if not is_valid_tag_key(key):
        raise ValueError(TAG_KEY_HELP)
    return key


def tag_value(tags_column: Any, key: str) -> Any:
    """The SQL expression of one tag's value (a JSON path on SQLite, `->>` on PostgreSQL): the only way a
    tag key reaches SQL, and only a key that passes TAG_KEY_RULE (else ValueError)."""
    return tags_column[check_tag_key(key)].as_string()


@dataclass(frozen=True)
class TagNormalizer:
    """How tag keys (and optionally values) are folded for grouping.

    case_fold: compare keys case-insensitively ("Env" == "env").
    fold_separators: '-', '_' and whitespace runs become one '_' ("cost-center" == "cost_center").
    strip_camel: split camelCase words with '_' ("CostCenter" -> "Cost_Center", "AWSAccount" -> "AWS_Account").
    fold_values: apply case folding to values as well (off by default: values are data).

    The defaults make every common spelling one key, `cost_center`: AWS/Azure `CostCenter`, `costCenter`,
    GCP `cost-center`, `cost_center` and `COST_CENTER`. The ledger stores keys normalized at ingestion time,
    and queries normalize the caller's key with the same settings: after changing any OCO_ECONOMIST_TAG_*
    setting, re-ingest the data so old and new rows carry the same keys.
    """

    case_fold: bool = True
    fold_separators: bool = True
    strip_camel: bool = True
    fold_values: bool = False

    def key(self, raw_key: str) -> str:
        """The grouping key of one raw tag key."""
        key = raw_key.strip()
        if self.strip_camel:
            key = _CAMEL.sub("_", key)
        if self.fold_separators:
            key = _SEPARATORS.sub("_", key).strip("_")
        if self.case_fold:
            key = key.casefold()
        return key

    def value(self, raw_value: str) -> str:
        """The grouping value of one raw tag value."""
        value = raw_value.strip()
        return value.casefold() if self.fold_values else value

    def normalize(self, tags: Mapping[str, str] | None) -> dict[str, str]:
        """Normalized tags; when two raw keys fold to one key, the first in sorted raw-key order wins.

        Sorting makes the result independent of the order the source listed the tags in.
        """
        if not tags:
            return {}
        out: dict[str, str] = {}
        for raw_key in sorted(tags):
            key = self.key(raw_key)
            if key and key not in out:
                raw_value = tags[raw_key]
                out[key] = self.value("" if raw_value is None else str(raw_value))
        return out


DEFAULT_TAG_NORMALIZER = TagNormalizer()
