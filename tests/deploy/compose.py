"""docker-compose.yml for the tests: the parsed file and Compose's variable interpolation
(`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `$$`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    """A `${VAR:?}` whose variable is unset or empty."""


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def references(value: Any) -> list[tuple[str, str | None, str]]:
    """Every `${...}` in the file's strings: (name, operator, argument)."""
    found: list[tuple[str, str | None, str]] = []
    if isinstance(value, dict):
        for item in value.values():
            found.extend(references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    elif isinstance(value, str):
        for match in VARIABLE.finditer(value):
            if match.group("name"):
                found.append((match.group("name"), match.group("op"), match.group("arg") or ""))
    return found


def _substitute(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        value = env.get(name)
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if empty else value  # type: ignore[return-value]
        if op in (":?", "?"):
            if empty:
                raise MissingVariable(f"{name}: {arg}")
            return value  # type: ignore[return-value]
        return value or ""

    return VARIABLE.sub(replace, text)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """The file as Compose sees it with this environment (raises MissingVariable)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, str):
        return _substitute(value, env)
    return value
