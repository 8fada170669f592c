"""Platform settings read from the environment (names listed in DESIGN.md section 4 and .env.example)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A configuration problem that must stop start-up with one clear line."""


class PlatformSettings(BaseSettings):
    """Settings shared by every service. Service settings subclass this with their own `OCO_<SERVICE>_` names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Database: OCO_DATABASE_URL wins, then POSTGRES_*, then the embedded SQLite file.
    oco_database_url: str | None = None
    postgres_host: str | None = None
    postgres_port: int = 5432
    postgres_db: str = "opencloudops"
    postgres_user: str = "oco_user"
    postgres_password: str | None = Field(default=None, repr=False)

    # Cache/counters/locks: Redis when REDIS_URL or REDIS_HOST is set, else in-process.
    redis_url: str | None = Field(default=None, repr=False)
    redis_host: str | None = None
    redis_port: int = 6379

    cors_allowed_origins: str = ""

    oco_data_dir: Path = Path("./data")
    oco_auth_cache_ttl_s: float = 5.0
    oco_log_level: str = "INFO"
    oco_access_log: bool = False
    oco_writer_queue_size: int = 10_000
    oco_writer_batch_size: int = 500
    oco_writer_flush_interval_s: float = 0.5
    oco_writer_retry_window_s: float = 30.0
    #: keep each request-log row in an append-only file under the data directory until it is committed,
    #: and replay those files at start: a killed process loses no row (see docs/reliability.md)
    oco_writer_spool: bool = True
    oco_ratelimit_fail_mode: Literal["open", "closed"] = "open"
    #: the largest request body any /api route reads (413 above it); upload routes set their own limits
    oco_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Outgoing webhooks (oco/notify.py). No default secret: without one, deliveries are recorded as failed.
    #: HMAC-SHA256 key of the `X-OCO-Signature: sha256=<hex>` header
    oco_notify_secret: SecretStr | None = Field(default=None, repr=False)
    #: comma list of host names, addresses or CIDRs webhooks may reach although they are loopback, private or
    #: link-local (e.g. `127.0.0.1,hooks.internal`); everything else on such addresses is refused
    oco_notify_allow_hosts: str = ""
    #: the general outbound allow-list (oco/netguard.py), same syntax: hosts, addresses or CIDRs that URLs a
    #: service fetches may reach although they are not public (webhooks, economist's cerebra source, ...)
    oco_outbound_allow_hosts: str = ""
    oco_notify_timeout_s: float = 10.0
    oco_notify_max_attempts: int = 6
    #: first retry delay; doubles per attempt (with jitter), capped at oco_notify_backoff_max_s
    oco_notify_backoff_s: float = 2.0
    oco_notify_backoff_max_s: float = 600.0

    @property
    def database_url(self) -> str:
        """The SQLAlchemy async URL, resolved by the precedence rules above."""
        if self.oco_database_url:
            return self.oco_database_url
        if self.postgres_host:
            if not self.postgres_password:
                raise SettingsError(
                    "POSTGRES_PASSWORD is required when POSTGRES_HOST is set (there is no default password)"
                )
            return (
                f"postgresql+asyncpg://{quote(self.postgres_user)}:{quote(self.postgres_password, safe='')}"
                f"@{self.postgres_host}:{self.postgres_port}/{quote(self.postgres_db)}"
            )
        return f"sqlite+aiosqlite:///{self.oco_data_dir / 'oco.db'}"

    @property
    def is_embedded_database(self) -> bool:
        """True when the database is the embedded SQLite default (migrated automatically on start)."""
        return self.database_url.startswith("sqlite")

    @property
    def resolved_redis_url(self) -> str | None:
        """The Redis URL, or None for the in-process backend."""
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            return f"redis://{self.redis_host}:{self.redis_port}/0"
        return None

    @property
    def cors_origins(self) -> list[str]:
        """CORS_ALLOWED_ORIGINS split on commas; empty means no cross-origin access."""
        return [o.strip() for o in self.cors_allowed_origins.split(",") if o.strip()]


@lru_cache(maxsize=1)
def get_settings() -> PlatformSettings:
    """The process-wide platform settings (cached; tests call `get_settings.cache_clear()`)."""
    return PlatformSettings()


def env_flag(name: str) -> bool:
    """True when an environment variable holds a truthy value (1, true, yes)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}
