"""Serve one service with uvicorn: the shared body of `python -m <service>` and `oco run <service>`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import uvicorn

from oco.observability import MULTIPROC_ENV, configure_logging
from oco.settings import SettingsError, get_settings


def prepare_multiprocess_metrics(workers: int) -> Path | None:
    """With several workers, prometheus-client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR (a fresh
    temporary folder when unset) emptied of a previous run's files before the workers start, so /metrics,
    whichever worker answers it, merges every worker's values. The variable reaches the workers through
    their environment, before they import prometheus_client."""
    folder = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 and not folder:
        return None
    if not folder:
        folder = tempfile.mkdtemp(prefix="oco-metrics-")
        os.environ[MULTIPROC_ENV] = folder
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def serve(app_factory: str, host: str, port: int, workers: int = 1) -> None:
    """Run the app factory under uvicorn (`workers` processes sharing the port) with JSON logs and no
    per-request access log. A settings error stops start-up with one line on stderr naming the variable
    (exit status 2), not a traceback."""
    settings = get_settings()
    configure_logging(settings.oco_log_level)
    prepare_multiprocess_metrics(workers)
    try:
        uvicorn.run(
            app_factory,
            factory=True,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            access_log=False,
            log_config=None,
            proxy_headers=True,
            server_header=False,
        )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve_main(name: str, app_factory: str, default_port: int) -> None:
    """Parse `--host/--port` and serve."""
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"Serve OCO {name}")
    parser.add_argument("--host", default=os.environ.get("OCO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("OCO_WORKERS", "1")),
        help="worker processes (OCO_WORKERS; metrics merged through PROMETHEUS_MULTIPROC_DIR)",
    )
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    serve(app_factory, args.host, args.port, args.workers)
