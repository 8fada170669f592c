"""Cerebra's settings: the platform's plus the gateway's own `OCO_CEREBRA_*` names."""

from __future__ import annotations

from pathlib import Path

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
