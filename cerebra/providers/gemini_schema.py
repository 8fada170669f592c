"""JSON Schema -> Gemini's OpenAPI-subset `Schema` (for function parameters and responseSchema).

Gemini's `Schema` knows a subset of OpenAPI 3.0 (upper-case types, `nullable`, string-only enums).
A schema that cannot be expressed there ($ref, allOf, non-string enums, type unions) converts to None,
and the caller sends the original JSON Schema in the `...JsonSchema` field instead.
"""

from __future__ import annotations

from typing import Any

_KEEP = frozenset(
    {
        "format",
        "title",
        "description",
        "nullable",
        "maxItems",
        "minItems",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "propertyOrdering",
        "default",
        "minimum",
        "maximum",
    }
)
_DROP = frozenset({"additionalProperties", "$schema", "$id", "$comment", "strict", "examples"})
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})


class _Unsupported(Exception):
    pass


def to_gemini_schema(schema: Any) -> dict[str, Any] | None:
    """The Gemini `Schema` equivalent of a JSON Schema, or None when it has no exact equivalent."""
    try:
        return _convert(schema)
    except _Unsupported:
        return None


def _convert(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise _Unsupported
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            _set_type(out, value)
        elif key == "properties":
            if not isinstance(value, dict):
                raise _Unsupported
            out["properties"] = {name: _convert(sub) for name, sub in value.items()}
        elif key == "items":
            out["items"] = _convert(value)
        elif key in ("anyOf", "oneOf"):
            if not isinstance(value, list):
                raise _Unsupported
            out["anyOf"] = [_convert(sub) for sub in value]
        elif key == "enum":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _Unsupported
            out["enum"] = value
            out.setdefault("format", "enum")
        elif key == "const":
            if not isinstance(value, str):
                raise _Unsupported
            out["enum"] = [value]
            out.setdefault("format", "enum")
        elif key in _KEEP:
            out[key] = value
        elif key not in _DROP:
            raise _Unsupported  # $ref, $defs, allOf, not, patternProperties, if/then/else, ...
    return out


def _set_type(out: dict[str, Any], value: Any) -> None:
    if isinstance(value, list):
        kinds = [v for v in value if v != "null"]
        if len(kinds) != 1:
            raise _Unsupported
        if len(kinds) != len(value):
            out["nullable"] = True
        value = kinds[0]
    if not isinstance(value, str) or value not in _TYPES:
        raise _Unsupported
    out["type"] = value.upper()
