"""Cerebra's settings: the platform's plus the gateway's own `OCO_CEREBRA_*` names, and the lookup of the
provider key variables route deployments name (environment first, then the same .env file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, PrivateAttr

from oco.settings import PlatformSettings


class CerebraSettings(PlatformSettings):
    """Gateway limits, retry/cooldown policy and the route file."""

    oco_cerebra_routes: Path | None = None
    oco_cerebra_max_body_bytes: int = 10 * 1024 * 1024
    oco_cerebra_request_deadline_s: float = 300.0
    oco_cerebra_retries: int = 1
    oco_cerebra_retry_base_s: float = 0.25
    oco_cerebra_max_retry_wait_s: float = 10.0
    oco_cerebra_cooldown_failures: int = 3
    oco_cerebra_cooldown_window_s: float = 60.0
    oco_cerebra_cooldown_s: float = 30.0
    oco_cerebra_pool_size: int = 512
    oco_cerebra_connect_timeout_s: float = 10.0
    #: how often each replica reloads rate limits and budgets from the database
    oco_cerebra_control_refresh_s: float = 5.0
    oco_cerebra_responses_ttl_days: float = Field(30.0, gt=0)
    #: response cache: largest answer stored, longest TTL a caller may ask for (x-oco-cache-ttl), and
    #: the total size of the in-process cache (used when there is no Redis)
    oco_cerebra_cache_max_entry_bytes: int = Field(1024 * 1024, gt=0)
    oco_cerebra_cache_max_ttl_s: int = Field(86400, gt=0)
    oco_cerebra_cache_memory_bytes: int = Field(64 * 1024 * 1024, gt=0)
    #: keep request-log rows (and their hourly rollup) this many days; 0 keeps them forever
    oco_cerebra_log_retention_days: int = Field(0, ge=0)
    #: how often the retention sweep runs (without TimescaleDB; with it, its retention policy)
    oco_cerebra_log_retention_interval_s: float = Field(3600.0, gt=0)

    _env_files: tuple[Path, ...] = PrivateAttr(default=())

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        chosen = values.get("_env_file", self.model_config.get("env_file"))
        if chosen is None:
            self._env_files = ()
        elif isinstance(chosen, (str, Path)):
            self._env_files = (Path(chosen),)
        else:
            self._env_files = tuple(Path(p) for p in chosen)

    def provider_env(self) -> Mapping[str, str]:
        """The variables provider keys (`api_key_env`) are read from: the .env file(s) these settings
        were read from, overridden by the process environment, as for every other setting. Read anew
        at each call (route table loads), never logged."""
        merged: dict[str, str] = {}
        encoding = self.model_config.get("env_file_encoding")
        for path in self._env_files:
            if path.is_file():
                merged.update(
                    {k: v for k, v in dotenv_values(path, encoding=encoding).items() if v is not None}
                )
        merged.update(os.environ)
        return merged
