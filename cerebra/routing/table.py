"""The route table: a YAML file (OCO_CEREBRA_ROUTES) mapping model aliases to provider deployments,
validated on load and reloaded when the file changes, or the built-in default when no file is set.
Provider keys are read (environment, then .env) from the variables the deployments name and never leave
the UpstreamTarget; a deployment whose variable is unset is warned about at load and never called.
An alias ending in `*` (`anthropic/*`) is a wildcard: any model name with that prefix is served by its
deployments, the rest of the name replacing the `*` in each deployment's `model`, priced from the catalog."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cerebra.cache.policy import CacheSpec
from cerebra.pricing.catalog import MOCK_MODEL_INFO, ModelInfo, Prices, history
from cerebra.providers import NATIVE_PROVIDERS, PROVIDERS, UpstreamTarget
from cerebra.providers.mock import MOCK_API_BASE

log = logging.getLogger("cerebra.routing")

Strategy = Literal["priority", "weighted", "least-latency", "lowest-cost", "auto"]

DEFAULT_BASES = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "mock": MOCK_API_BASE,
}
DIRECT_CACHE_LIMIT = 1024
WILDCARD = "*"
# what a wildcard alias's `*` may stand for: a provider model name (fine-tunes have colons, Vertex an @)
WILDCARD_REST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")
DEFAULT_KEY_ENVS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
BUILT_IN = "built-in default"

EnvSource = Callable[[], Mapping[str, str]]


def yaml_error_position(exc: yaml.YAMLError) -> str:
    """Where a YAML error is (line and column, 1-based) and what kind it is, never the offending text: the
    line may hold a secret (a provider key written inline)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = _QUOTED.sub("…", str(getattr(exc, "problem", None) or type(exc).__name__))
    if mark is None:
        return problem
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


#: quoted fragments in a YAML error's description (PyYAML quotes the characters it found there)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class RouteTableError(ValueError):
    """The route file is missing, unreadable or invalid (the message says where)."""


class DeploymentSpec(BaseModel):
    """One deployment as written in the YAML file."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = Field(
        None, description="variable holding the key (default: the provider's); empty: the upstream takes none"
    )
    api_version: str | None = None
    azure: bool = False
    weight: float = Field(1.0, gt=0)
    priority: int = 0
    timeout_s: float = Field(60.0, gt=0)
    max_rpm: int | None = Field(None, gt=0)
    max_tpm: int | None = Field(None, gt=0)
    input_price: Decimal | None = Field(None, ge=0, description="USD per 1M input tokens")
    output_price: Decimal | None = Field(None, ge=0, description="USD per 1M output tokens")
    cached_input_price: Decimal | None = Field(None, ge=0, description="USD per 1M cache-read input tokens")
    cache_write_price: Decimal | None = Field(
        None, ge=0, description="USD per 1M tokens written to a 5-minute cache"
    )
    cache_write_1h_price: Decimal | None = Field(
        None, ge=0, description="USD per 1M tokens written to a 1-hour cache"
    )
    context_window: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, gt=0)
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_json: bool | None = None
    default_max_tokens: int = Field(4096, gt=0)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; expected one of {sorted(PROVIDERS)}")
        return value


class RouteSpec(BaseModel):
    """One alias as written in the YAML file."""

    model_config = ConfigDict(extra="forbid")

    strategy: Strategy = "priority"
    fallbacks: list[str] = []
    deployments: list[DeploymentSpec] = Field(min_length=1)
    cache: CacheSpec | None = None


class ProviderDefaults(BaseModel):
    """Where a native pass-through call for a plain provider model name goes."""

    model_config = ConfigDict(extra="forbid")

    api_base: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None


class RouteFile(BaseModel):
    """The whole YAML document."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, RouteSpec] = {}
    providers: dict[str, ProviderDefaults] = {}


@dataclass(frozen=True, slots=True)
class Deployment:
    """A resolved deployment: where to send, what it costs, what it can do."""

    id: str
    alias: str
    target: UpstreamTarget
    weight: float
    priority: int
    timeout_s: float
    max_rpm: int | None
    max_tpm: int | None
    price_history: tuple[ModelInfo, ...]  # oldest first; empty: unpriced
    context_window: int
    max_output_tokens: int
    supports_tools: bool
    supports_vision: bool
    supports_json: bool
    key_env: str | None = None  # the variable its key is read from (a name, never the key)
    missing_key_env: str | None = None  # that variable is unset: the deployment is never called

    @property
    def provider(self) -> str:
        return self.target.provider

    @property
    def model(self) -> str:
        return self.target.model

    def prices_on(self, day: dt.date) -> Prices | None:
        """The prices in effect on `day` (None: unpriced)."""
        rows = self.price_history
        if not rows:
            return None
        for row in reversed(rows):
            if row.effective_from <= day:
                return row.prices
        return rows[0].prices

    @property
    def prices(self) -> Prices | None:
        """The prices in effect today."""
        return self.prices_on(dt.datetime.now(dt.UTC).date())

    @property
    def input_price(self) -> Decimal | None:
        return self.prices.input_per_mtok if self.prices else None

    @property
    def output_price(self) -> Decimal | None:
        return self.prices.output_per_mtok if self.prices else None

    def blended_price(self) -> Decimal:
        """A single number to rank by cost: input + output price per 1M (unknown prices rank last)."""
        if self.input_price is None or self.output_price is None:
            return Decimal("Infinity")
        return self.input_price + self.output_price


@dataclass(frozen=True, slots=True)
class Route:
    """An alias: strategy, fallback aliases and its deployments."""

    alias: str
    strategy: str
    fallbacks: tuple[str, ...]
    deployments: tuple[Deployment, ...]
    cache: CacheSpec | None = None  # the response cache's policy for this alias (None: not cached)


def _host(api_base: str) -> str:
    """host[:port] of a base URL: part of a deployment's id, never its credentials or path."""
    parts = urlsplit(api_base)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def key_env_of(provider: str, api_key_env: str | None) -> str | None:
    """The variable a deployment's key is read from: its own, else the provider's default; None when it
    needs no key (the mock provider, or `api_key_env: ""` for a keyless OpenAI-compatible server)."""
    if api_key_env is not None:
        return api_key_env or None
    return DEFAULT_KEY_ENVS.get(provider)


def _deployment(alias: str, index: int, spec: DeploymentSpec, env: Mapping[str, str]) -> Deployment:
    rows = (MOCK_MODEL_INFO,) if spec.provider == "mock" else history(spec.model)
    info = rows[-1] if rows else None
    key_env = key_env_of(spec.provider, spec.api_key_env)
    api_key = env.get(key_env) or None if key_env else None
    target = UpstreamTarget(
        provider=spec.provider,
        model=spec.model,
        api_base=(spec.api_base or DEFAULT_BASES[spec.provider]).rstrip("/"),
        api_key=api_key,
        api_version=spec.api_version,
        default_max_tokens=spec.default_max_tokens,
        azure=spec.azure,
    )

    def pick(override: Any, catalog_value: Any, default: Any) -> Any:
        if override is not None:
            return override
        return catalog_value if info is not None else default

    return Deployment(
        id=f"{alias}#{index}:{spec.provider}/{spec.model}@{_host(target.api_base)}",
        alias=alias,
        target=target,
        weight=spec.weight,
        priority=spec.priority,
        timeout_s=spec.timeout_s,
        max_rpm=spec.max_rpm,
        max_tpm=spec.max_tpm,
        price_history=_price_history(spec, rows or ()),
        context_window=pick(spec.context_window, info.context_window if info else None, 8192),
        max_output_tokens=pick(spec.max_output_tokens, info.max_output_tokens if info else None, 4096),
        supports_tools=pick(spec.supports_tools, info.tools if info else None, False),
        supports_vision=pick(spec.supports_vision, info.vision if info else None, False),
        supports_json=pick(spec.supports_json, info.json_mode if info else None, False),
        key_env=key_env,
        missing_key_env=key_env if key_env and api_key is None else None,
    )


def _price_history(spec: DeploymentSpec, rows: tuple[ModelInfo, ...]) -> tuple[ModelInfo, ...]:
    """The catalog's rows with the deployment's overrides on top of each; a model the catalog does not
    know is priced only when the deployment gives both input and output prices."""
    overrides = {
        "input_per_mtok": spec.input_price,
        "output_per_mtok": spec.output_price,
        "cached_input_per_mtok": spec.cached_input_price,
        "cache_write_5m_per_mtok": spec.cache_write_price,
        "cache_write_1h_per_mtok": spec.cache_write_1h_price,
    }
    given = {name: value for name, value in overrides.items() if value is not None}
    if not rows or rows[0].prices is None:
        if spec.input_price is None or spec.output_price is None:
            return ()
        return (
            ModelInfo(
                Prices(**{"input_per_mtok": spec.input_price, "output_per_mtok": spec.output_price, **given})
            ),
        )
    if not given:
        return rows
    return tuple(replace(row, prices=replace(row.prices, **given)) for row in rows if row.prices is not None)


def _check_wildcard(alias: str, spec: RouteSpec) -> None:
    """A wildcard alias: one trailing `*` after a non-empty prefix; each deployment's model has one `*`."""
    if len(alias) < 2 or alias.count(WILDCARD) != 1:
        raise RouteTableError(
            f"models.{alias}: a wildcard alias is a prefix followed by one '*', e.g. 'openai/*'"
        )
    for i, d in enumerate(spec.deployments):
        if d.model.count(WILDCARD) != 1:
            raise RouteTableError(
                f"models.{alias}.deployments.{i}.model: a wildcard alias's deployment names its model with "
                "one '*' standing for the rest of the requested name (usually just '*')"
            )


class RouteTable:
    """Aliases and provider defaults, immutable once built. `env` is where key variables are looked up."""

    def __init__(self, document: RouteFile, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.document = document
        self.routes: dict[str, Route] = {}
        self.wildcards: dict[str, RouteSpec] = {}  # pattern ("openai/*") -> its spec, resolved per name
        for alias, spec in document.models.items():
            if alias.endswith(WILDCARD):
                _check_wildcard(alias, spec)
                self.wildcards[alias] = spec
                continue
            for i, d in enumerate(spec.deployments):
                if WILDCARD in d.model:
                    raise RouteTableError(
                        f"models.{alias}.deployments.{i}.model: '*' is only allowed in a wildcard alias "
                        "(one whose name ends in '*', e.g. 'openai/*')"
                    )
            deployments = tuple(_deployment(alias, i, d, env) for i, d in enumerate(spec.deployments))
            self.routes[alias] = Route(alias, spec.strategy, tuple(spec.fallbacks), deployments, spec.cache)
        for alias, fallbacks in [
            *((a, r.fallbacks) for a, r in self.routes.items()),
            *((a, s.fallbacks) for a, s in self.wildcards.items()),
        ]:
            for fallback in fallbacks:
                if fallback not in self.routes:
                    raise RouteTableError(f"models.{alias}.fallbacks: unknown alias {fallback!r}")
        # longest prefix first, so `openai/ft:*` wins over `openai/*`
        self._patterns = sorted(self.wildcards, key=len, reverse=True)
        self._env = env
        self._resolved: dict[str, Route] = {}
        self._direct: dict[tuple[str, str], Deployment] = {}
        self.providers: dict[str, UpstreamTarget] = {}
        self._provider_key_envs: dict[str, str | None] = {}
        for provider in NATIVE_PROVIDERS:
            defaults = document.providers.get(provider, ProviderDefaults())
            key_env = key_env_of(provider, defaults.api_key_env)
            self._provider_key_envs[provider] = key_env
            self.providers[provider] = UpstreamTarget(
                provider=provider,
                model="",
                api_base=(defaults.api_base or DEFAULT_BASES[provider]).rstrip("/"),
                api_key=env.get(key_env) or None if key_env else None,
                api_version=defaults.api_version,
            )

    def route_for(self, model: str) -> Route | None:
        """The route serving `model`: its alias, else the longest wildcard pattern it matches (resolved
        once per name, cached with a bound), else None."""
        route = self.routes.get(model)
        if route is not None or not self._patterns:
            return route
        route = self._resolved.get(model)
        if route is not None:
            return route
        for pattern in self._patterns:
            prefix = pattern[:-1]
            rest = model[len(prefix) :]
            if model.startswith(prefix) and WILDCARD_REST.match(rest):
                spec = self.wildcards[pattern]
                deployments = tuple(
                    _deployment(
                        pattern, i, d.model_copy(update={"model": d.model.replace(WILDCARD, rest)}), self._env
                    )
                    for i, d in enumerate(spec.deployments)
                )
                route = Route(model, spec.strategy, tuple(spec.fallbacks), deployments, spec.cache)
                if len(self._resolved) >= DIRECT_CACHE_LIMIT:
                    self._resolved.clear()
                self._resolved[model] = route
                return route
        return None

    def warn_missing_keys(self) -> None:
        """One warning per alias whose deployments name an unset key variable (their calls fail with 502)."""
        missing = {alias: {d.missing_key_env for d in r.deployments} for alias, r in self.routes.items()}
        for alias, spec in self.wildcards.items():
            variables = {key_env_of(d.provider, d.api_key_env) for d in spec.deployments}
            missing[alias] = {v for v in variables if v and not self._env.get(v)}
        for alias, variables in missing.items():
            for variable in sorted(v for v in variables if v):
                log.warning(
                    "cerebra alias %r: provider key variable %s is not set; its calls fail with 502 until it is",
                    alias,
                    variable,
                    extra={"fields": {"alias": alias, "variable": variable}},
                )

    @classmethod
    def from_dict(cls, data: dict, env: Mapping[str, str] | None = None) -> RouteTable:
        """Validate a parsed document; RouteTableError names the bad field."""
        try:
            return cls(RouteFile.model_validate(data or {}), env)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RouteTableError(f"{where}: {first['msg']}") from None

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str] | None = None) -> RouteTable:
        """Read and validate a YAML route file."""
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise RouteTableError(f"cannot read route file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise RouteTableError(
                f"route file {path} is not valid YAML: {yaml_error_position(exc)}"
            ) from None
        if data is not None and not isinstance(data, dict):
            raise RouteTableError(f"route file {path}: the top level must be a mapping with `models:`")
        return cls.from_dict(data or {}, env)

    def direct_deployment(self, provider: str, model: str) -> Deployment:
        """A deployment for a plain provider model name sent to the provider's configured base URL
        (native pass-through of a model that is not an alias). Cached, with a bound."""
        key = (provider, model)
        cached = self._direct.get(key)
        if cached is not None:
            return cached
        defaults = self.providers[provider]
        spec = DeploymentSpec(
            provider=provider, model=model, api_base=defaults.api_base, api_version=defaults.api_version
        )
        deployment = _deployment(f"native:{provider}", 0, spec, {})
        key_env = self._provider_key_envs[provider]
        target = UpstreamTarget(
            provider=provider,
            model=model,
            api_base=defaults.api_base,
            api_key=defaults.api_key,
            api_version=defaults.api_version,
        )
        deployment = replace(
            deployment,
            target=target,
            id=f"native:{provider}/{model}@{_host(defaults.api_base)}",
            key_env=key_env,
            missing_key_env=key_env if key_env and defaults.api_key is None else None,
        )
        if len(self._direct) >= DIRECT_CACHE_LIMIT:
            self._direct.clear()
        self._direct[key] = deployment
        return deployment

    def all_deployments(self) -> list[Deployment]:
        """Every deployment of every alias (for `model: auto` without an `auto` alias)."""
        return [d for route in self.routes.values() for d in route.deployments]


class RouteTableSource:
    """Holds the current table and reloads it when the file's mtime changes (checked at most every
    `check_interval_s`); a broken edit keeps the previous table and logs why. Without a file the table is
    `default(env)`, built once. `env` gives the variables provider keys are read from, at each load."""

    def __init__(
        self,
        path: Path | None,
        *,
        env: EnvSource | None = None,
        default: Callable[[Mapping[str, str]], RouteFile] | None = None,
        check_interval_s: float = 2.0,
    ) -> None:
        self.path = path
        self.env: EnvSource = env or (lambda: os.environ)
        self.check_interval_s = check_interval_s
        self._mtime = self._stat()
        if path:
            self.table = RouteTable.load(path, self.env())
        else:
            variables = self.env()
            self.table = RouteTable(default(variables) if default else RouteFile(), variables)
        self.table.warn_missing_keys()
        self._base = self.table  # the file's (or built-in) table, before the admin API's routes
        self._overlay: dict[str, RouteSpec] = {}
        self._next_check = time.monotonic() + check_interval_s

    @property
    def origin(self) -> str:
        """Where the table comes from: the route file's path, or "built-in default"."""
        return str(self.path) if self.path else BUILT_IN

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path else None
        except OSError:
            return None

    def current(self) -> RouteTable:
        """The table, reloaded first when the file changed."""
        now = time.monotonic()
        if self.path is not None and now >= self._next_check:
            self._next_check = now + self.check_interval_s
            mtime = self._stat()
            if mtime != self._mtime:
                with contextlib.suppress(RouteTableError):  # logged by reload(); the old table stays
                    self.reload()
        return self.table

    def reload(self) -> RouteTable:
        """Load the file now; on error keep the old table and raise RouteTableError."""
        self._mtime = self._stat()
        if self.path is None:
            return self.table
        try:
            base = RouteTable.load(self.path, self.env())
            table = self._with_overlay(base, self._overlay)
        except RouteTableError as exc:
            log.error("route table not reloaded: %s", exc)
            raise
        self._base, self.table = base, table
        log.info("route table reloaded: %d aliases", len(self.table.routes))
        self.table.warn_missing_keys()
        return self.table

    def _with_overlay(self, base: RouteTable, overlay: Mapping[str, RouteSpec]) -> RouteTable:
        if not overlay:
            return base
        document = RouteFile(models={**base.document.models, **overlay}, providers=base.document.providers)
        return RouteTable(document, self.env())

    @property
    def overlay(self) -> Mapping[str, RouteSpec]:
        """The aliases set through the admin API, as applied now."""
        return self._overlay

    def check_overlay(self, overlay: Mapping[str, RouteSpec]) -> RouteTable:
        """The table these API routes would give (RouteTableError when they do not fit together)."""
        return self._with_overlay(self._base, overlay)

    def set_overlay(self, overlay: Mapping[str, RouteSpec]) -> None:
        """Apply the aliases set through the admin API over the file's (they add to it or replace an alias
        of the same name). A set that does not build keeps the current table and logs why."""
        try:
            table = self._with_overlay(self._base, overlay)
        except RouteTableError as exc:
            log.error("routes from the admin API not applied: %s", exc)
            return
        self._overlay = dict(overlay)
        self.table = table

    def rebuild(self) -> None:
        """Build the table again (prices changed): the same documents, new deployments."""
        self._base = RouteTable(self._base.document, self.env())
        self.set_overlay(self._overlay)
