"""The built-in route table used when OCO_CEREBRA_ROUTES is unset: `demo` on the in-process mock provider,
plus, per real provider whose key variable is set (environment or .env), a few aliases and the wildcard
`<provider>/*` (any model of that provider by name). Without the key neither exists: such names are 404."""

from __future__ import annotations

from collections.abc import Mapping

from cerebra.providers.mock import MOCK_MODEL
from cerebra.routing.table import RouteFile, RouteSpec

MOCK_ALIAS = "demo"

# key variable -> {alias: (provider, provider model)}
PROVIDER_ALIASES: dict[str, dict[str, tuple[str, str]]] = {
    "OPENAI_API_KEY": {
        "gpt-4o-mini": ("openai", "gpt-4o-mini"),
        "text-embedding-3-small": ("openai", "text-embedding-3-small"),
    },
    "ANTHROPIC_API_KEY": {"claude-sonnet": ("anthropic", "claude-sonnet-4-0")},
    "GEMINI_API_KEY": {"gemini-flash": ("gemini", "gemini-2.5-flash")},
}
WILDCARDS = {"OPENAI_API_KEY": "openai", "ANTHROPIC_API_KEY": "anthropic", "GEMINI_API_KEY": "gemini"}


def default_route_file(env: Mapping[str, str]) -> RouteFile:
    """`demo` -> mock always; the aliases of PROVIDER_ALIASES and `<provider>/*` whose key variable has a
    value in `env`."""
    models = {MOCK_ALIAS: _route({"provider": "mock", "model": MOCK_MODEL})}
    for variable, aliases in PROVIDER_ALIASES.items():
        if env.get(variable):
            for alias, (provider, model) in aliases.items():
                models[alias] = _route({"provider": provider, "model": model, "api_key_env": variable})
            wildcard = WILDCARDS[variable]
            models[f"{wildcard}/*"] = _route({"provider": wildcard, "model": "*", "api_key_env": variable})
    return RouteFile(models=models)


def _route(deployment: dict[str, str]) -> RouteSpec:
    """A one-deployment alias, validated as if it were written in a route file."""
    return RouteSpec.model_validate({"deployments": [deployment]})
