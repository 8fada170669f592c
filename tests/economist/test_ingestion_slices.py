"""What a load replaces: split files add up, the same file (by name or by content) or an explicit
replace_key replaces, API scopes stay apart; dead processes' ingestions end failed "interrupted"; bad paths
and huge pages are refused; database errors are classified by SQLSTATE."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from economist.app import create_app
from economist.ingestion import repository as repo
from economist.ingestion.factory import CloudClients, SourceFactory
from economist.ingestion.service import INTERRUPTED, IngestionService
from economist.ingestion.slices import origin_of
from economist.ledger.tables import ingestions
from economist.settings import EconomistSettings
from oco.errors import database_error
from oco.kv import create_kv
from oco.runs import OwnerLease
from oco.timeutil import utcnow

HEADER = (
    "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
    "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ProviderName,ServiceName,BillingAccountId\n"
)


def focus_file(provider: str, account: str, costs: list[str], day: int = 2) -> bytes:
    """A small FOCUS file: one September 2024 row per cost."""
    rows = [
        f"{cost},{cost},{cost},{cost},USD,2024-09-01,2024-10-01,"
        f"2024-09-{day + i:02d},2024-09-{day + i + 1:02d},Usage,{provider},EC2,{account}\n"
        for i, cost in enumerate(costs)
    ]
    return (HEADER + "".join(rows)).encode()


@pytest.fixture
async def served(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    app = create_app(EconomistSettings(_env_file=None, **settings.model_dump()))
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return app, client


async def upload(client, name: str, body: bytes, **params: str) -> dict:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/ingestions/upload", files={"file": (name, body, "text/csv")}, params=params
    )
    assert response.status_code == 201, response.text
    return response.json()


async def total(client, provider: str) -> str:  # type: ignore[no-untyped-def]
    params = {"from": "2024-09-01", "to": "2024-10-01", "filter": f"provider:{provider}"}
    response = await client.get("/api/v1/costs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["total"]


# -- origins ---------------------------------------------------------------------------------------------


def test_origin_rules() -> None:
    assert origin_of("focus", {"path": "/data/2024-09/part-00001.csv"}) == "name:part-00001.csv"
    assert origin_of("focus", {"upload": True}, "part-00001.csv") == "name:part-00001.csv"
    assert origin_of("aws_cur", {"bucket": "b", "key": "cur/2024-09/part-00001.csv"}) == "name:part-00001.csv"
    assert origin_of("aws_cur", {"bucket": "b", "key": "cur/2024-09/"}) == "s3:b/cur/2024-09/"
    assert origin_of("focus", {"path": "/x/a.csv", "replace_key": "sept"}) == "key:sept"
    assert origin_of("azure_cost", {"scope": "/subscriptions/AbC/", "cost_type": "AmortizedCost"}) == (
        "azure_cost:/subscriptions/abc"
    )
    assert origin_of("gcp_bigquery", {"table": "`p.d.t`", "detailed": True}) == "gcp_bigquery:p.d.t"
    assert origin_of("aws_cost_explorer", {"group_by": ["SERVICE"]}) == "aws_cost_explorer:*"
    linked = {"filter": {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["1"]}}}
    assert origin_of("aws_cost_explorer", linked) != origin_of("aws_cost_explorer", {})


# -- files -----------------------------------------------------------------------------------------------


async def test_split_parts_add_and_the_same_part_replaces(served, unique) -> None:  # type: ignore[no-untyped-def]
    _app, client = served
    provider, account = unique("Prov"), unique("acct")
    part1, part2 = focus_file(provider, account, ["10", "5"]), focus_file(provider, account, ["1.5"], day=9)
    first = await upload(client, "part-00001.csv", part1)
    second = await upload(client, "part-00002.csv", part2)
    assert (first["replaced_rows"], second["replaced_rows"]) == (0, 0)
    assert await total(client, provider) == "16.500000"

    again = await upload(client, "part-00001.csv", part1)  # idempotent
    assert again["replaced_rows"] == 2 and await total(client, provider) == "16.500000"

    corrected = await upload(client, "part-00001.csv", focus_file(provider, account, ["11", "5"]))
    assert corrected["replaced_rows"] == 2 and await total(client, provider) == "17.500000"

    renamed = await upload(client, "copy-of-part-00002.csv", part2)  # same content, other name
    assert renamed["replaced_rows"] == 1 and await total(client, provider) == "17.500000"


async def test_replace_key_overrides_the_file_name(served, unique) -> None:  # type: ignore[no-untyped-def]
    _app, client = served
    provider, account = unique("Prov"), unique("acct")
    await upload(client, "a/export.csv", focus_file(provider, account, ["3"]), replace_key="sub-1")
    other = await upload(client, "b/export.csv", focus_file(provider, account, ["4"]), replace_key="sub-2")
    assert other["replaced_rows"] == 0 and await total(client, provider) == "7.000000"
    fixed = await upload(client, "sub-1-fixed.csv", focus_file(provider, account, ["2"]), replace_key="sub-1")
    assert fixed["replaced_rows"] == 1 and await total(client, provider) == "6.000000"
    assert fixed["options"] == {"upload": True, "replace_key": "sub-1"}


async def test_path_load_replaces_its_upload(served, settings, serve_app, keystore, unique, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider, account = unique("Prov"), unique("acct")
    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "sept.csv"
    path.write_bytes(focus_file(provider, account, ["8"]))
    app = create_app(
        EconomistSettings(_env_file=None, **settings.model_dump(), oco_economist_ingest_dirs=str(folder))
    )
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    await upload(client, "renamed.csv", path.read_bytes())
    started = await client.post(
        "/api/v1/ingestions", json={"source": "focus", "options": {"path": str(path)}}
    )
    assert started.status_code == 202, started.text
    await app.state.ingestion.wait(started.json()["id"])
    record = (await client.get(f"/api/v1/ingestions/{started.json()['id']}")).json()
    assert record["status"] == "succeeded" and record["replaced_rows"] == 1  # identical content
    assert await total(client, provider) == "8.000000"

    bad = await client.post("/api/v1/ingestions", json={"source": "focus", "options": {"path": "a\x00b"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "options.path"
    key = await client.post(
        "/api/v1/ingestions", json={"source": "focus", "options": {"path": str(path), "replace_key": 5}}
    )
    assert key.status_code == 400 and key.json()["error"]["param"] == "options.replace_key"


# -- API scopes ------------------------------------------------------------------------------------------


class _AzureQuery:
    def __init__(self, provider_costs: dict[str, int]) -> None:
        self.costs = provider_costs

    def usage(self, scope, definition, params=None, cls=None):  # type: ignore[no-untyped-def]
        cost = self.costs[scope.rsplit("/", 1)[-1]]
        columns = ["Cost", "UsageDate", "ServiceName", "ResourceLocation", "Currency"]
        rows = [[cost, 20240902, "VM", "eastus", "USD"]]
        return json.dumps(
            {"properties": {"columns": [{"name": c} for c in columns], "rows": rows, "nextLink": None}}
        )


async def test_azure_scopes_do_not_replace_each_other(served, unique) -> None:  # type: ignore[no-untyped-def]
    app, client = served
    sub_a, sub_b = unique("a"), unique("b")

    class Clients(CloudClients):
        def cost_management(self):  # type: ignore[no-untyped-def]
            return type("Client", (), {"query": _AzureQuery({sub_a: 100, sub_b: 7})})()

    service = app.state.ingestion
    service.factory = SourceFactory(service.settings, Clients(service.settings))
    period = {"start": "2024-09-01", "end": "2024-10-01"}
    records = []
    for sub in (sub_a, sub_b, sub_a):
        body = {"source": "azure_cost", "period": period, "options": {"scope": f"/subscriptions/{sub}"}}
        response = await client.post("/api/v1/ingestions", json=body)
        assert response.status_code == 202, response.text
        await service.wait(response.json()["id"])
        records.append((await client.get(f"/api/v1/ingestions/{response.json()['id']}")).json())
    assert [r["status"] for r in records] == ["succeeded"] * 3, records
    assert [r["replaced_rows"] for r in records] == [0, 0, 1]  # B kept A; A again replaced A only
    # both subscriptions' rows are in the ledger, each once (by subscription id as sub-account)
    async with service.database.engine.connect() as conn:
        ids = [r["id"] for r in records[1:]]
        kept = (
            await conn.execute(
                sa.text(f"SELECT count(*) FROM cloud_costs WHERE ingestion_id IN ({ids[0]}, {ids[1]})")
            )
        ).scalar_one()
    assert kept == 2


# -- dead ingestions -------------------------------------------------------------------------------------


async def test_unfinished_records_of_dead_processes_are_failed(settings, database, unique) -> None:  # type: ignore[no-untyped-def]
    economist = EconomistSettings(_env_file=None, **settings.model_dump())
    kv = create_kv(settings.resolved_redis_url)
    old = utcnow() - timedelta(hours=1)
    async with database.engine.begin() as conn:
        ids = []
        for status in ("running", "pending", "running", "running"):
            ids.append(
                await repo.create_ingestion(
                    conn,
                    source="focus",
                    status=status,
                    period=None,
                    options={},
                    filename=unique("f"),
                    created_by="test",
                )
            )
        # the first three are an hour old; the fourth was just created (no owner or heartbeat yet)
        await conn.execute(sa.update(ingestions).where(ingestions.c.id.in_(ids[:3])).values(created_at=old))
        # the third is a live run of another process: its owner holds a lease, its heartbeat is fresh
        other = OwnerLease(kv, ttl_s=60)
        await conn.execute(
            sa.update(ingestions)
            .where(ingestions.c.id == ids[2])
            .values(owner=other.owner, heartbeat_at=utcnow())
        )
    await other.refresh()
    try:
        service = IngestionService(database, economist, SourceFactory(economist), kv=kv)
        dead = await service.reap()
        assert ids[0] in dead and ids[1] in dead and ids[2] not in dead and ids[3] not in dead
        async with database.engine.connect() as conn:
            records = {i: await repo.get_ingestion(conn, i) for i in ids}
        assert records[ids[0]]["status"] == "failed" and records[ids[0]]["errors"] == [
            {"message": INTERRUPTED}
        ]
        assert records[ids[0]]["finished_at"] is not None
        assert records[ids[2]]["status"] == "running" and records[ids[3]]["status"] == "running"
        if kv.backend == "memory":  # one process: at start-up everything unfinished is dead
            assert set(ids[2:]) <= set(await service.reap(startup=True))
    finally:
        await other.release()
        async with database.engine.begin() as conn:
            await repo.fail_unfinished(conn, ids, "test cleanup")
        await kv.close()


async def test_app_start_marks_a_killed_ingestion_failed(
    settings, serve_app, keystore, database, unique
) -> None:  # type: ignore[no-untyped-def]
    async with database.engine.begin() as conn:
        killed = await repo.create_ingestion(
            conn,
            source="focus",
            status="running",
            period=None,
            options={},
            filename="big.csv",
            created_by="t",
        )
        await conn.execute(
            sa.update(ingestions)
            .where(ingestions.c.id == killed)
            .values(created_at=utcnow() - timedelta(hours=1))
        )
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    record = (await client.get(f"/api/v1/ingestions/{killed}")).json()
    assert record["status"] == "failed" and record["errors"][0]["message"] == INTERRUPTED


# -- request bounds and database errors --------------------------------------------------------------------


async def test_list_bounds(served) -> None:  # type: ignore[no-untyped-def]
    _app, client = served
    assert (await client.get("/api/v1/ingestions", params={"limit": 1000})).status_code == 200
    for params in ({"limit": 1001}, {"offset": 10_000_001}, {"offset": 10**30}):
        response = await client.get("/api/v1/ingestions", params=params)
        assert response.status_code == 422, (params, response.text)
    assert (await client.get("/api/v1/ingestions", params={"offset": 10_000_000})).status_code == 200


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg error {sqlstate}")
        self.sqlstate = sqlstate


def test_database_errors_are_classified_by_sqlstate() -> None:
    def wrapped(sqlstate: str) -> DBAPIError:
        return DBAPIError("INSERT ...", {}, _PgError(sqlstate))

    refused = database_error(wrapped("22003"))
    assert refused is not None and refused.status == 400 and "pg error 22003" in refused.message
    assert database_error(wrapped("23502")).status == 400  # type: ignore[union-attr]
    assert database_error(_PgError("22P02")).status == 400  # type: ignore[union-attr]  # asyncpg, unwrapped (COPY)
    assert database_error(wrapped("08006")).status == 503  # type: ignore[union-attr]
    assert database_error(wrapped("57P01")).status == 503  # type: ignore[union-attr]
    assert database_error(ConnectionRefusedError()).status == 503  # type: ignore[union-attr]
    assert database_error(wrapped("42P01")).status == 500  # type: ignore[union-attr]
    sqlite_error = IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("NOT NULL constraint failed"))
    assert database_error(sqlite_error).status == 400  # type: ignore[union-attr]
    assert database_error(ValueError("not a database error")) is None
