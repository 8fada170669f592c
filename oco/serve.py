"""Serve one service with uvicorn: the shared body of `python -m <service>` and `oco run <service>`."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from oco.observability import configure_logging
from oco.settings import SettingsError, get_settings


def serve(app_factory: str, host: str, port: int) -> None:
    """Run the app factory under uvicorn with JSON logs and no per-request access log. A settings error
    stops start-up with one line on stderr naming the variable (exit status 2), not a traceback."""
    settings = get_settings()
    configure_logging(settings.oco_log_level)
    try:
        uvicorn.run(
            app_factory,
            factory=True,
            host=host,
            port=port,
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
    args = parser.parse_args()
    serve(app_factory, args.host, args.port)
