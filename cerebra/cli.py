"""`oco cerebra ...`: spend from the request log, keys and budgets, all over a running cerebra's API
(`--url` / OCO_CEREBRA_URL, and a key with the `admin` scope: `--api-key`, else OCO_API_KEY, else the
quick start's data/admin.key). Money is printed exactly as the API returns it (decimal strings)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from oco.cli_client import ApiKeyOption, JsonOption, ServiceClient, cell, print_json, print_table
from oco.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

app = typer.Typer(help="Cerebra: spend, keys and budgets of the LLM gateway.", no_args_is_help=True)
keys_app = typer.Typer(help="Cerebra API keys (GET/POST/DELETE /api/v1/keys).", no_args_is_help=True)
budgets_app = typer.Typer(
    help="Cerebra budgets (GET /api/v1/budgets, /api/v1/budgets/status).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(budgets_app, name="budgets")
console = Console()

DEFAULT_URL = "http://127.0.0.1:8080"
Url = Annotated[str, typer.Option("--url", envvar="OCO_CEREBRA_URL", help="the cerebra service")]


class GroupBy(str, Enum):
    model = "model"
    provider = "provider"
    key = "key"
    team = "team"
    org = "org"
    agent = "agent"
    alias = "alias"


class Granularity(str, Enum):
    hour = "hour"
    day = "day"


class BudgetScope(str, Enum):
    key = "key"
    team = "team"
    org = "org"
    agent = "agent"


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command()
def spend(
    group_by: Annotated[GroupBy, typer.Option("--group-by", help="what one row is")] = GroupBy.model,
    start: Annotated[
        str | None, typer.Option("--from", help="start, ISO date or datetime (default: 7 days ago)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="end, exclusive (default: the next full hour)")
    ] = None,
    granularity: Annotated[Granularity | None, typer.Option(help="one row per hour or day per group")] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Cost and requests per group from the request log (GET /api/v1/analytics/spend)."""
    params: dict[str, Any] = {"group_by": group_by.value}
    for name, value in (
        ("from", start),
        ("to", end),
        ("granularity", granularity.value if granularity else None),
    ):
        if value is not None:
            params[name] = value
    with ServiceClient("cerebra", url, api_key) as api:
        result = api.call("GET", "/api/v1/analytics/spend", params=params)
    if as_json:
        print_json(result)
        return
    print_table(spend_table(result))
    _say(
        f"total {result['total_cost']} {result['currency']}, {result['total_requests']} requests, "
        f"{result['from']} to {result['to']}"
    )


def spend_table(result: dict[str, Any]) -> Table:
    """period (with a granularity), the group, cost and requests."""
    table = Table()
    fields = (["period"] if result["granularity"] else []) + [result["group_by"]]
    for name in fields:
        table.add_column(name)
    table.add_column(f"cost ({result['currency']})", justify="right")
    table.add_column("requests", justify="right")
    for row in result["rows"]:
        table.add_row(*(cell(row.get(name)) for name in fields), row["cost"], str(row["requests"]))
    return table


@keys_app.command("list")
def keys_list(
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Keys by id: metadata only, never a key."""
    with ServiceClient("cerebra", url, api_key) as api:
        result = api.call("GET", "/api/v1/keys", params={"limit": limit, "offset": offset})
    if as_json:
        print_json(result)
        return
    table = Table()
    for name in ("id", "name", "prefix", "scopes", "team", "org", "models", "status", "expires"):
        table.add_column(name)
    for key in result["items"]:
        table.add_row(
            str(key["id"]),
            key["name"],
            key["key_prefix"],
            ",".join(key["scopes"]),
            cell(key["team"]),
            cell(key["org"]),
            ",".join(key["models"]) if key["models"] is not None else "any",
            key["status"],
            cell(key["expires_at"]),
        )
    print_table(table)
    _say(f"{len(result['items'])} of {result['total']} keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="what the key is for")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="cerebra, economist, aegis or admin (repeatable)")
    ],
    team: Annotated[str | None, typer.Option(help="bind the key to a team")] = None,
    org: Annotated[str | None, typer.Option(help="bind the key to an org")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="an alias it may call (repeatable)")
    ] = None,
    expires_at: Annotated[
        datetime | None, typer.Option("--expires-at", help="when it stops working (UTC), e.g. 2027-01-01")
    ] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Create a key (POST /api/v1/keys); the key is printed once, on stdout."""
    body: dict[str, Any] = {"name": name, "scopes": scope, "team": team, "org": org, "models": model or None}
    if expires_at is not None:
        body["expires_at"] = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with ServiceClient("cerebra", url, api_key) as api:
        result = api.call("POST", "/api/v1/keys", json=body)
    if as_json:
        print_json(result)
        return
    typer.echo(result["key"])
    Console(stderr=True).print(
        f"key {result['id']} ({result['name']}) created; it is shown once: store it now", markup=False
    )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(min=1, help="the key's id (oco cerebra keys list)")],
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Revoke a key (DELETE /api/v1/keys/{id}); its row stays for the log and the audit."""
    with ServiceClient("cerebra", url, api_key) as api:
        api.call("DELETE", f"/api/v1/keys/{key_id}")
    _say(f"key {key_id} revoked")


@budgets_app.command("list")
def budgets_list(
    scope: Annotated[BudgetScope | None, typer.Option(help="only budgets of this scope")] = None,
    scope_id: Annotated[str | None, typer.Option("--scope-id", help="only budgets of this id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Budgets: scope, id, model, period, limit and alert thresholds."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if scope is not None:
        params["scope"] = scope.value
    if scope_id is not None:
        params["scope_id"] = scope_id
    with ServiceClient("cerebra", url, api_key) as api:
        result = api.call("GET", "/api/v1/budgets", params=params)
    if as_json:
        print_json(result)
        return
    table = Table()
    for name in ("id", "scope", "scope id", "model", "period", "limit (USD)", "thresholds"):
        table.add_column(name, justify="right" if name == "limit (USD)" else "left")
    for b in result["items"]:
        table.add_row(
            str(b["id"]),
            b["scope"],
            b["scope_id"],
            b["model"] or "any",
            b["period"],
            b["limit_usd"],
            ",".join(b["thresholds"]),
        )
    print_table(table)
    _say(f"{len(result['items'])} of {result['total']} budgets")


@budgets_app.command("status")
def budgets_status(
    scope: Annotated[BudgetScope, typer.Option(help="key, team, org or agent")],
    scope_id: Annotated[str, typer.Option("--scope-id", help="the key's id, or the team/org/agent name")],
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Spent, reserved and remaining of a scope's budgets in their current period."""
    with ServiceClient("cerebra", url, api_key) as api:
        result = api.call(
            "GET", "/api/v1/budgets/status", params={"scope": scope.value, "scope_id": scope_id}
        )
    if as_json:
        print_json(result)
        return
    table = Table()
    for name in ("budget", "model", "period", "period end", "limit", "spent", "reserved", "remaining"):
        table.add_column(
            name, justify="right" if name in ("limit", "spent", "reserved", "remaining") else "left"
        )
    for b in result["budgets"]:
        table.add_row(
            str(b["budget_id"]),
            b["model"] or "any",
            b["period"],
            cell(b["period_end"]),
            b["limit_usd"],
            b["spent_usd"],
            b["reserved_usd"],
            b["remaining_usd"],
        )
    print_table(table)
    _say(f"{scope.value} {scope_id}: {result['remaining_usd']} USD remaining of the tightest budget")
