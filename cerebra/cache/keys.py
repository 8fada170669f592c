"""The cache key of a chat request: a BLAKE2b hash of its canonical JSON (sorted keys, sampling numbers
as floats) with its namespace, over every field except those that cannot change the answer."""

from __future__ import annotations

import hashlib

import orjson

# fields that change who asked, how the answer travels or what is logged, never the answer itself
IGNORED_FIELDS = frozenset(
    {
        "user",
        "safety_identifier",
        "stream",
        "stream_options",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
# numbers written either way (0 or 0.0) that mean the same sampling
FLOAT_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
KEY_VERSION = "v1"


def cache_key(namespace: str, body: dict) -> str | None:
    """`cerebra:cache:v1:<hash>`, or None when the body cannot be canonicalised (not cached then)."""
    canonical = {name: value for name, value in body.items() if name not in IGNORED_FIELDS}
    for name in FLOAT_FIELDS:
        value = canonical.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            canonical[name] = float(value)
    try:
        data = orjson.dumps([KEY_VERSION, namespace, canonical], option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return f"cerebra:cache:{KEY_VERSION}:" + hashlib.blake2b(data, digest_size=24).hexdigest()
