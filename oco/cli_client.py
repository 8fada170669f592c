"""What the service CLIs share: where the API key comes from, a small HTTP client of a service that turns
error answers into one clear line, and JSON or table output on stdout."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from oco.settings import PlatformSettings

OPTION = "--api-key"
ENV = "OCO_API_KEY"

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        OPTION,
        help=f"the API key (else ${ENV}, else the quick start's <OCO_DATA_DIR>/admin.key)",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the API's JSON, nothing else, on stdout")]


def out() -> Console:
    """stdout, built per call so COLUMNS and redirections are read when the command runs."""
    return Console()


def err() -> Console:
    return Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr (the message is never read as markup) and exit with `code`."""
    err().print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
    raise typer.Exit(code)


def key_file() -> Path:
    """The quick start's admin key: <OCO_DATA_DIR>/admin.key (./data by default, as `oco run` writes it)."""
    return PlatformSettings().oco_data_dir / "admin.key"


@dataclass(frozen=True)
class ResolvedKey:
    """The key and where it came from; `tried` lists each source looked at, in order, with what was found."""

    value: str | None = field(repr=False)
    source: str | None
    tried: tuple[tuple[str, str], ...]

    def tried_text(self) -> str:
        return ", ".join(f"{where}: {found}" for where, found in self.tried)


def resolve_api_key(option: str | None) -> ResolvedKey:
    """`--api-key`, else $OCO_API_KEY, else the quick start's key file; the first one that holds a key."""
    env = os.environ
    tried: list[tuple[str, str]] = []
    if option:
        return ResolvedKey(option.strip(), OPTION, ((OPTION, "given"),))
    tried.append((OPTION, "not given"))
    if env.get(ENV, "").strip():
        tried.append((ENV, "set"))
        return ResolvedKey(env[ENV].strip(), ENV, tuple(tried))
    tried.append((ENV, "not set"))
    path = key_file()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        tried.append((str(path), "not found"))
    except OSError as exc:
        tried.append((str(path), f"unreadable ({exc.strerror or type(exc).__name__})"))
    else:
        if text:
            tried.append((str(path), "found"))
            return ResolvedKey(text, str(path), tuple(tried))
        tried.append((str(path), "empty"))
    return ResolvedKey(None, None, tuple(tried))


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase


class ServiceClient:
    """A synchronous client of one service's API: an error answer prints one line on stderr and exits 1."""

    def __init__(self, service: str, url: str, api_key: str | None, timeout_s: float = 30.0) -> None:
        self.service = service
        self.url = url.rstrip("/")
        self.key = resolve_api_key(api_key)
        if self.key.value is None:
            fail(
                f"no API key for {service}: give {OPTION}, set {ENV}, or start the quick start "
                f"(`oco run`), which writes the admin key file (tried {self.key.tried_text()})",
                code=2,
            )
        self.client = httpx.Client(
            base_url=self.url, headers={"X-API-Key": self.key.value}, timeout=timeout_s
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (None for an empty one)."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the {self.service} service at {self.url}: {exc}")
        if response.status_code == 401:
            fail(
                f"401 from {self.url}: the API key from {self.key.source} was refused "
                f"(tried {self.key.tried_text()})"
            )
        if response.status_code == 403:
            fail(
                f"403 from {self.url}: the API key from {self.key.source} may not do this: {_error_message(response)}"
            )
        if response.status_code >= 400:
            fail(f"{response.status_code}: {_error_message(response)}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def print_json(data: Any) -> None:
    """The data as indented JSON on stdout, alone (no markup, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, default=_json_default))


def print_table(table: Table) -> None:
    out().print(table)


def cell(value: Any) -> str:
    """A table cell: empty for None, the text otherwise."""
    return "" if value is None else str(value)
