"""The `oco` command: run the services, manage the database schema and API keys, and mount each
service's own subcommands (`oco economist ...`, `oco aegis ...`) when that service provides them."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich import box
from rich.console import Console
from rich.table import Table

from oco import migrations
from oco.auth import KeyStore
from oco.cli_client import JsonOption, out, print_json, print_table
from oco.db import Database
from oco.settings import PlatformSettings, SettingsError, get_settings
from oco.timeutil import as_utc, utcnow

T = TypeVar("T")

app = typer.Typer(
    help="Open Cloud Ops: cerebra (LLM gateway), economist (cloud costs), aegis (Kubernetes resilience).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)

#: each service's default port; `OCO_<SERVICE>_PORT` (environment or .env) overrides it for `oco run`
SERVICES = {"cerebra": 8080, "economist": 8081, "aegis": 8082}


class RunPorts(BaseSettings):
    """The ports `oco run` serves on: OCO_CEREBRA_PORT, OCO_ECONOMIST_PORT, OCO_AEGIS_PORT."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    oco_cerebra_port: int = Field(default=SERVICES["cerebra"], ge=1, le=65535)
    oco_economist_port: int = Field(default=SERVICES["economist"], ge=1, le=65535)
    oco_aegis_port: int = Field(default=SERVICES["aegis"], ge=1, le=65535)

    def of(self, service: str) -> int:
        return int(getattr(self, f"oco_{service}_port"))


def _ports() -> RunPorts:
    try:
        return RunPorts()
    except ValidationError as exc:
        names = ", ".join(str(e["loc"][0]).upper() for e in exc.errors())
        err.print(f"[red]error:[/red] {names}: a port is a whole number from 1 to 65535")
        raise typer.Exit(2) from None


class Target(str, Enum):
    all = "all"
    cerebra = "cerebra"
    economist = "economist"
    aegis = "aegis"


def _settings() -> PlatformSettings:
    settings = get_settings()
    try:
        _ = settings.database_url
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return settings


def _parse_duration(text: str) -> timedelta:
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise typer.BadParameter("use a number and a unit: 30d, 12h, 90m, 2w")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


async def _with_store(settings: PlatformSettings, action: Callable[[KeyStore], Awaitable[T]]) -> T:
    database = Database(settings.database_url, pool_size=1)
    try:
        return await action(KeyStore(database))
    finally:
        await database.dispose()


def write_first_admin_key(settings: PlatformSettings, path: Path, name: str = "first admin") -> Path | None:
    """Create an admin key and write it to `path` (mode 0600) when the database has no key yet; None (and
    nothing written) when it has one. The folder is checked first, so a key is never made that no file holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write into {path.parent}")

    async def create_if_empty(store: KeyStore) -> str | None:
        if await store.count() > 0:
            return None
        created = await store.create(name, ["admin"])
        return created.plaintext

    plaintext = asyncio.run(_with_store(settings, create_if_empty))
    if plaintext is None:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(plaintext + "\n")
    os.chmod(path, 0o600)
    return path


def bootstrap_admin_key(settings: PlatformSettings) -> Path | None:
    """On the embedded quick start with no keys yet, create an admin key in data/admin.key (mode 0600)."""
    if not settings.is_embedded_database:
        return None
    return write_first_admin_key(settings, settings.oco_data_dir / "admin.key", "quick-start admin")


@app.command()
def run(
    target: Annotated[Target, typer.Argument(help="which service to run")] = Target.all,
    host: Annotated[str, typer.Option(envvar="OCO_HOST", help="bind address")] = "127.0.0.1",
) -> None:
    """Run one service, or all three (each in its own process). Ports: 8080, 8081, 8082, or
    OCO_CEREBRA_PORT, OCO_ECONOMIST_PORT, OCO_AEGIS_PORT."""
    settings = _settings()
    ports = _ports()
    migrations.upgrade(settings.database_url)
    key_path = bootstrap_admin_key(settings)
    if key_path is not None:
        console.print(
            f"Created the first admin key: [bold]{key_path}[/bold] (mode 0600). "
            f'Try: curl -H "X-API-Key: $(cat {key_path})" localhost:{ports.of("economist")}/api/v1/whoami',
            soft_wrap=True,
        )
    elif settings.is_embedded_database and (settings.oco_data_dir / "admin.key").exists():
        console.print(f"Admin key: {settings.oco_data_dir / 'admin.key'}")
    names = list(SERVICES) if target is Target.all else [target.value]
    for name in names:
        console.print(f"{name:10s} serves http://{host}:{ports.of(name)}  (docs: /docs)")
    if len(names) == 1:
        from oco.serve import serve

        serve(f"{names[0]}.app:create_app", host, ports.of(names[0]))
        return
    processes = [
        subprocess.Popen([sys.executable, "-m", name, "--host", host, "--port", str(ports.of(name))])
        for name in names
    ]

    def stop(*_: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    finally:
        stop()
        for process in processes:
            process.wait(timeout=30)
    codes = [p.returncode for p in processes]
    raise typer.Exit(0 if all(c in (0, -signal.SIGTERM) for c in codes) else 1)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrations.upgrade(_settings().database_url, revision)
    console.print(f"database at {migrations.current(_settings().database_url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (`base` empties the schema)."""
    migrations.downgrade(_settings().database_url, revision)
    console.print(f"database at {migrations.current(_settings().database_url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the code's head."""
    console.print(f"current: {migrations.current(_settings().database_url) or 'base (empty)'}")
    console.print(f"head:    {migrations.head_revision()}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="who or what uses the key")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="cerebra, economist, aegis or admin (repeatable)")
    ],
    team: Annotated[str | None, typer.Option("--team", help="bind the key to a team")] = None,
    expires_in: Annotated[str | None, typer.Option("--expires-in", help="e.g. 30d, 12h")] = None,
) -> None:
    """Create a key and print it once (it is stored only as a hash)."""
    settings = _settings()
    expires = _parse_duration(expires_in) if expires_in else None
    try:
        created = asyncio.run(
            _with_store(settings, lambda s: s.create(name, scope, team=team, expires_in=expires))
        )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(
        f"created key {created.id} '{created.name}' scopes={','.join(created.scopes)}"
        + (f" team={created.team}" if created.team else "")
        + (f" expires={created.expires_at.isoformat()}" if created.expires_at else "")
        + ". It is shown once; store it now:"
    )
    print(created.plaintext)


@keys_app.command("bootstrap")
def keys_bootstrap(
    out_path: Annotated[Path, typer.Option("--out", help="file to write the key to (mode 0600)")],
) -> None:
    """Create the first admin key into a file when the database has no key yet; otherwise do nothing
    (safe to run on every deploy, e.g. by the compose `migrate` service)."""
    settings = _settings()
    try:
        path = write_first_admin_key(settings, out_path)
    except PermissionError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if path is None:
        err.print("the database already has keys: none created")
        return
    err.print(f"created the first admin key in {path} (mode 0600)")


def _key_status(row: dict[str, Any], now: datetime) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    expires = as_utc(row["expires_at"])
    return "expired" if expires is not None and expires <= now else "active"


def _day(value: datetime | None) -> str:
    return as_utc(value).date().isoformat() if value is not None else ""


KEY_COLUMNS = ("id", "name", "prefix", "scopes", "team", "status", "expires", "last used")
FLEXIBLE = (1, 3, 4)  # name, scopes, team: cut with an ellipsis when the terminal is narrow
GAP = 2


def _fit(natural: list[int], width: int) -> list[int]:
    """Column widths within `width`: fixed columns keep their size, the flexible ones share the rest
    (narrowest first, so a short column gives its unused share to the longer ones)."""
    widths = list(natural)
    room = width - GAP * (len(natural) - 1) - sum(w for i, w in enumerate(natural) if i not in FLEXIBLE)
    pending = sorted(FLEXIBLE, key=lambda i: natural[i])
    for done, index in enumerate(pending):
        share = room // (len(pending) - done)
        widths[index] = max(min(natural[index], share), len(KEY_COLUMNS[index]))
        room -= widths[index]
    return widths


def keys_table(rows: list[dict[str, Any]], now: datetime, width: int) -> Table:
    """The keys as a table no wider than `width`: days, not timestamps, and one status for
    revoked/expired (`--json` has every field); long names, scopes and teams end in an ellipsis."""
    cells = [
        (
            str(row["id"]),
            row["name"],
            row["key_prefix"],
            ",".join(row["scopes"]),
            row["team"] or "",
            _key_status(row, now),
            _day(row["expires_at"]),
            _day(row["last_used_at"]) or "never",
        )
        for row in rows
    ]
    natural = [max([len(name)] + [len(c[i]) for c in cells]) for i, name in enumerate(KEY_COLUMNS)]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, GAP - 1, 0, 0))
    for name, size in zip(KEY_COLUMNS, _fit(natural, width), strict=True):
        table.add_column(
            name, width=size, no_wrap=True, overflow="ellipsis", justify="right" if name == "id" else "left"
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    return table


@keys_app.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """List keys (metadata only; --json for every field, full timestamps included)."""
    rows = asyncio.run(_with_store(_settings(), lambda s: s.list()))
    if as_json:
        print_json(rows)
        return
    print_table(keys_table(rows, utcnow(), out().width))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="the key's id (oco keys list)")]) -> None:
    """Revoke a key; it stops working within the auth cache TTL (OCO_AUTH_CACHE_TTL_S)."""
    if not asyncio.run(_with_store(_settings(), lambda s: s.revoke(key_id))):
        err.print(f"[red]error:[/red] no active key with id {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked key {key_id}")


demo_app = typer.Typer(
    help="Demo data: the public FOCUS 1.0 sample bundled with economist.", no_args_is_help=True
)
app.add_typer(demo_app, name="demo")


@demo_app.command("load")
def demo_load(
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Ingest the bundled FOCUS sample into economist (again: replaces, never doubles); print its period
    and cost per provider."""
    from economist.demo.report import as_json_text, as_lines
    from economist.demo.service import load_sample
    from economist.settings import EconomistSettings

    _settings()
    result = asyncio.run(load_sample(EconomistSettings()))
    if as_json:
        print(as_json_text(result))
        return
    for line in as_lines(result):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _mount_service_commands() -> None:
    for name in ("cerebra", "economist", "aegis"):
        try:
            module = importlib.import_module(f"{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.cli":
                raise
            continue
        app.add_typer(module.app, name=name)


_mount_service_commands()

if __name__ == "__main__":
    app()
