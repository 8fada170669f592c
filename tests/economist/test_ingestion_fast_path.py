"""The vectorized FOCUS path (pyarrow -> CSV COPY on PostgreSQL): the same ledger rows, rollup and totals as the
strict parser on the public sample, focus-toolkit files (CSV, gzip, Parquet) and the quirky file; a bad value
falls back to the strict parser, which names line and column and keeps nothing; SQLite keeps the strict path."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.ingestion.service import command_ingestion
from economist.ledger.columns import COLUMNS_BY_NAME
from economist.ledger.tables import INSERT_COLUMNS, cloud_costs, cloud_costs_daily, ingestions
from economist.ledger.tags import DEFAULT_TAG_NORMALIZER
from economist.settings import EconomistSettings
from economist.sources import open_focus_source
from economist.sources.focus_arrow import COPY_COLUMNS, FastPathUnsupported, FocusArrowReader
from oco.kv import MemoryKV
from tests.economist.test_source_focus import QUIRKY, SAMPLE, write_with
from tests.economist.test_source_focus import toolkit_files as toolkit_files_fixture

toolkit_files = toolkit_files_fixture  # the module-scoped fixture, shared with test_source_focus

ROW_COLUMNS = [c for c in INSERT_COLUMNS if c not in ("source", "ingestion_id")]
DAILY_COLUMNS = [c.name for c in cloud_costs_daily.columns if c.name != "ingestion_id"]


def arrow_rows(path: Path, window: tuple[date, date] | None = None) -> list[dict]:
    """What the fast path would COPY, read back from its CSV chunks."""
    reader = FocusArrowReader(
        path,
        filename=None,
        ingestion_id=7,
        source_kind="focus",
        normalizer=DEFAULT_TAG_NORMALIZER,
        window=window,
    )
    rows = []
    for chunk in reader.chunks():
        for record in csv.reader(io.StringIO(chunk.data.decode())):
            rows.append(dict(zip(COPY_COLUMNS, record, strict=True)))
    return rows


def typed(name: str, text: str):  # type: ignore[no-untyped-def]
    if text == "":
        return None
    kind = COLUMNS_BY_NAME[name].kind if name in COLUMNS_BY_NAME else "str"
    if kind in ("money", "quantity"):
        return Decimal(text)
    if kind == "datetime":
        return datetime.fromisoformat(text)
    if kind == "json":
        return json.loads(text)
    return text


def assert_reader_matches_strict(path: Path) -> int:
    strict = [r for b in open_focus_source(path).batches() for r in b.rows]
    fast = arrow_rows(path)
    assert len(fast) == len(strict)
    for expected, got in zip(strict, fast, strict=True):
        for name, value in expected.items():
            assert typed(name, got[name]) == value, name
        assert json.loads(got["tags_normalized"]) == DEFAULT_TAG_NORMALIZER.normalize(expected["tags"])
        assert (got["source"], got["ingestion_id"]) == ("focus", "7")
    return len(strict)


# -- the reader alone (both back ends) ----------------------------------------------------------------------


def test_reader_matches_the_strict_parser_on_the_sample() -> None:
    assert assert_reader_matches_strict(SAMPLE) == 1000


def test_reader_matches_the_strict_parser_on_toolkit_files(toolkit_files, tmp_path: Path) -> None:
    for path in toolkit_files.values():
        assert assert_reader_matches_strict(path) == 300
    path = toolkit_files[("azure", "1.3")]
    gz = tmp_path / "azure.csv"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    parquet = tmp_path / "azure.parquet"
    pq.write_table(pacsv.read_csv(path), parquet)  # float64 money, timestamp dates
    decimal_parquet = tmp_path / "decimal.parquet"
    table = pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types={"BilledCost": pa.decimal128(38, 20)})
    )
    pq.write_table(table, decimal_parquet, row_group_size=64)
    for variant in (gz, parquet, decimal_parquet):
        assert assert_reader_matches_strict(variant) == 300


def test_reader_handles_the_quirks(tmp_path: Path) -> None:
    path = tmp_path / "quirky.csv"
    path.write_text(QUIRKY, encoding="utf-8")
    assert assert_reader_matches_strict(path) == 2


@pytest.mark.parametrize("bad", ["12,50", "Infinity", "1_000", "NULL"])
def test_reader_refuses_what_it_cannot_convert_exactly(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "bad.csv"

    def change(records: list[list[str]]) -> list[str]:
        records[500][records[0].index("BilledCost")] = bad
        return records[0]

    write_with(path, SAMPLE, change)
    with pytest.raises(FastPathUnsupported):
        arrow_rows(path)


# -- through the database -------------------------------------------------------------------------------------

CREATED: list[int] = []


@pytest.fixture(autouse=True)
async def forget_ingestions(database):  # type: ignore[no-untyped-def]
    """Remove what these tests load: other modules sum the whole ledger by provider."""
    yield
    if CREATED:
        async with database.engine.begin() as conn:
            for table in (cloud_costs, cloud_costs_daily):
                await conn.execute(sa.delete(table).where(table.c.ingestion_id.in_(CREATED)))
            await conn.execute(sa.delete(ingestions).where(ingestions.c.id.in_(CREATED)))
        CREATED.clear()


async def run_recorded(ingestor: LedgerIngestor, source, kind: str, filename: str, window=None) -> dict:  # type: ignore[no-untyped-def]
    """Run a source through the ingestor under a record owned as a command's (command_ingestion)."""
    async with command_ingestion(
        ingestor.database,
        EconomistSettings(_env_file=None),
        MemoryKV(),
        source=kind,
        period=window,
        options={},
        filename=filename,
        created_by="test",
    ) as ingestion_id:
        CREATED.append(ingestion_id)
        return await ingestor.run(ingestion_id, source, source_kind=kind, window=window)


async def ingest(database, path: Path, kind: str, *, fast: bool, window=None) -> tuple[LedgerIngestor, dict]:  # type: ignore[no-untyped-def]
    ingestor = LedgerIngestor(database, normalizer=DEFAULT_TAG_NORMALIZER, fast_path=fast)
    record = await run_recorded(ingestor, open_focus_source(path), kind, str(path), window)
    return ingestor, record


async def ledger_of(database, ingestion_id: int) -> tuple[list[tuple], list[tuple]]:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(*(cloud_costs.c[n] for n in ROW_COLUMNS)).where(
                    cloud_costs.c.ingestion_id == ingestion_id
                )
            )
        ).all()
        daily = (
            await conn.execute(
                sa.select(*(cloud_costs_daily.c[n] for n in DAILY_COLUMNS)).where(
                    cloud_costs_daily.c.ingestion_id == ingestion_id
                )
            )
        ).all()
    key = repr
    return sorted((tuple(r) for r in rows), key=key), sorted((tuple(r) for r in daily), key=key)


@pytest.fixture
def postgresql(database):  # type: ignore[no-untyped-def]
    if database.dialect != "postgresql":
        pytest.skip("the fast path is for PostgreSQL (SQLite keeps the strict path)")
    return database


def charge_days_of(path: Path) -> tuple[date, date]:
    """[day of the first ChargePeriodStart, day after the last ChargePeriodEnd), read with pyarrow's own CSV
    or Parquet reader (independent of both ingestion paths)."""
    table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    starts = [str(v) for v in table.column("ChargePeriodStart").to_pylist() if v is not None]
    ends = [str(v) for v in table.column("ChargePeriodEnd").to_pylist() if v is not None]
    first = min(datetime.fromisoformat(v.replace("Z", "+00:00")) for v in starts)
    last = max(datetime.fromisoformat(v.replace("Z", "+00:00")) for v in ends)
    midnight = (last.hour, last.minute, last.second, last.microsecond) == (0, 0, 0, 0)
    return first.date(), last.date() if midnight else last.date() + timedelta(days=1)


def covered(record: dict) -> tuple[date, date]:
    return record["period_start"], record["period_end"]


def same_totals(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(Decimal(a[k]) == Decimal(b[k]) for k in a)


async def test_fast_path_gives_the_strict_ledger(postgresql, toolkit_files, unique, tmp_path: Path) -> None:
    files = [SAMPLE, toolkit_files[("aws", "1.3")], toolkit_files[("gcp", "1.2")]]
    parquet = tmp_path / "azure.parquet"
    pq.write_table(pacsv.read_csv(toolkit_files[("azure", "1.2")]), parquet)
    files.append(parquet)
    for path in files:
        fast, fast_record = await ingest(postgresql, path, unique("fast")[:40], fast=True)
        slow, slow_record = await ingest(postgresql, path, unique("slow")[:40], fast=False)
        assert fast.stats == {"fast": 1, "strict": 0, "fallback": 0}
        assert slow.stats == {"fast": 0, "strict": 1, "fallback": 0}
        assert fast_record["row_count"] == slow_record["row_count"] > 0
        assert same_totals(fast_record["totals"], slow_record["totals"]), path
        assert fast_record["slice"]["cells"] == slow_record["slice"]["cells"]
        assert fast_record["rows_read"] == slow_record["rows_read"]
        assert fast_record["bytes_read"] == fast_record["bytes_total"]
        assert covered(fast_record) == covered(slow_record) == charge_days_of(path), path
        assert await ledger_of(postgresql, fast_record["id"]) == await ledger_of(
            postgresql, slow_record["id"]
        )


async def test_sample_totals_are_exact(postgresql, unique) -> None:
    expected = Decimal(0)
    with open(SAMPLE, newline="", encoding="utf-8-sig") as f:
        for record in csv.DictReader(f):
            expected += Decimal(record["BilledCost"])
    ingestor, record = await ingest(postgresql, SAMPLE, unique("fast")[:40], fast=True)
    assert ingestor.stats["fast"] == 1
    assert record["row_count"] == 1000
    assert Decimal(record["totals"]["USD"]) == expected


async def test_window_and_slice_replacement(postgresql, toolkit_files, unique) -> None:
    path = toolkit_files[("aws", "1.2")]
    kind = unique("fast")[:40]
    with open(path, newline="") as f:
        starts = sorted({r["ChargePeriodStart"][:10] for r in csv.DictReader(f)})
    window = (date.fromisoformat(starts[0]), date.fromisoformat(starts[len(starts) // 2]))
    _, fast_cut = await ingest(postgresql, path, kind, fast=True, window=window)
    _, slow_cut = await ingest(postgresql, path, unique("slow")[:40], fast=False, window=window)
    assert 0 < fast_cut["row_count"] == slow_cut["row_count"] < 300
    assert covered(fast_cut) == covered(slow_cut) == window  # a load given a window speaks for it
    assert await ledger_of(postgresql, fast_cut["id"]) == await ledger_of(postgresql, slow_cut["id"])
    # the whole file again, same source kind: it replaces the windowed load (ledger rows and rollup)
    ingestor, whole = await ingest(postgresql, path, kind, fast=True)
    assert ingestor.stats["fast"] == 1
    assert (whole["row_count"], whole["replaced_rows"]) == (300, fast_cut["row_count"])
    assert await ledger_of(postgresql, fast_cut["id"]) == ([], [])


async def test_bad_value_falls_back_to_line_and_column(
    postgresql, toolkit_files, unique, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"

    def change(records: list[list[str]]) -> list[str]:
        records[137][records[0].index("ChargePeriodStart")] = "31/05/2026"
        return records[0]

    write_with(bad, toolkit_files[("aws", "1.3")], change)
    ingestor = LedgerIngestor(postgresql, normalizer=DEFAULT_TAG_NORMALIZER)
    kind = unique("fast")[:40]
    with pytest.raises(IngestionFailed) as caught:
        await run_recorded(ingestor, open_focus_source(bad, filename="bad.csv"), kind, "bad.csv")
    ingestion_id = caught.value.ingestion_id
    error = caught.value.row_error
    assert error is not None and (error.file, error.line, error.column) == (
        "bad.csv",
        138,
        "ChargePeriodStart",
    )
    assert ingestor.stats == {"fast": 0, "strict": 1, "fallback": 1}
    assert await ledger_of(postgresql, ingestion_id) == ([], [])


async def test_fallback_then_success_on_an_upload(postgresql, unique, tmp_path: Path) -> None:
    # a blank-looking line (spaces only) is skipped by the strict parser; pyarrow refuses it
    lines = SAMPLE.read_bytes().split(b"\n")
    lines.insert(400, b"   ")
    with io.BytesIO(b"\n".join(lines)) as upload:
        ingestor = LedgerIngestor(postgresql, normalizer=DEFAULT_TAG_NORMALIZER)
        kind = unique("fast")[:40]
        record = await run_recorded(ingestor, open_focus_source(upload, filename="up.csv"), kind, "up.csv")
    assert ingestor.stats == {"fast": 0, "strict": 1, "fallback": 1}
    assert record["row_count"] == 1000
    assert covered(record) == (date(2024, 9, 1), date(2024, 10, 1))


async def test_sqlite_keeps_the_strict_path(database, unique) -> None:
    if database.dialect != "sqlite":
        pytest.skip("SQLite only")
    ingestor, record = await ingest(database, SAMPLE, unique("fast")[:40], fast=True)
    assert ingestor.stats == {"fast": 0, "strict": 1, "fallback": 0}
    assert record["row_count"] == 1000
    assert covered(record) == charge_days_of(SAMPLE) == (date(2024, 9, 1), date(2024, 10, 1))


# -- the rollup aggregated on the way (ArrowRollup) -----------------------------------------------------------


def edge_values(records: list[list[str]]) -> list[str]:
    """Rows that test the rollup's arithmetic: UTC offsets across midnight, sub-cent digits that NUMERIC(30,12)
    rounds half away from zero, negatives, missing list/contracted costs, a second currency, no sub-account."""
    header = records[0]
    col = {name: header.index(name) for name in header}
    edits = [
        {"ChargePeriodStart": "2026-05-01T23:30:00-02:00", "BilledCost": "0.0000000000005"},
        {"ChargePeriodStart": "2026-05-01T23:30:00-02:00", "BilledCost": "-0.0000000000005"},
        {"BilledCost": "1.2345678901234999", "EffectiveCost": "-7.000000000000500"},
        {"ListCost": "", "ContractedCost": "NULL"},
        {"BillingCurrency": "eur", "BilledCost": "3.10"},
        {"SubAccountId": "", "BilledCost": "1e-3"},
    ]
    for row, edit in zip(records[11:], edits, strict=False):
        for name, value in edit.items():
            row[col[name]] = value
    return header


async def sql_rollup_of(database, ingestion_id: int) -> list[tuple]:  # type: ignore[no-untyped-def]
    """build_rollup()'s rows for a loaded ingestion, computed in a transaction that is rolled back."""
    from economist.ingestion import repository

    d = cloud_costs_daily.c
    async with database.engine.connect() as conn, conn.begin() as transaction:
        await conn.execute(sa.delete(cloud_costs_daily).where(d.ingestion_id == ingestion_id))
        await repository.build_rollup(conn, ingestion_id)
        rows = (
            await conn.execute(
                sa.select(*(d[n] for n in DAILY_COLUMNS)).where(d.ingestion_id == ingestion_id)
            )
        ).all()
        await transaction.rollback()
    return sorted((tuple(r) for r in rows), key=repr)


@pytest.mark.parametrize("spill", [False, True], ids=["in-memory", "spilled"])
async def test_rollup_built_on_the_way_equals_the_sql_rollup(
    postgresql, toolkit_files, unique, tmp_path: Path, monkeypatch, spill: bool
) -> None:
    from economist.ingestion import arrow_rollup, fast_copy, repository
    from economist.sources import focus_arrow

    consolidated: list[bool] = []
    copy_rollup = fast_copy.copy_rollup

    async def recording_copy_rollup(*args, consolidate: bool):  # type: ignore[no-untyped-def]
        consolidated.append(consolidate)
        return await copy_rollup(*args, consolidate=consolidate)

    monkeypatch.setattr(fast_copy, "copy_rollup", recording_copy_rollup)
    if spill:  # small blocks, frequent merges, a tiny in-memory limit: keys repeat across spilled rows
        monkeypatch.setattr(focus_arrow, "_CSV_BLOCK", 16 << 10)
        monkeypatch.setattr(arrow_rollup, "COMBINE_EVERY", 2)
        monkeypatch.setattr(arrow_rollup, "SPILL_GROUPS", 20)

    edges = tmp_path / "edges.csv"
    write_with(edges, toolkit_files[("aws", "1.3")], edge_values)

    async def no_sql_rollup(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the fast path must not build the rollup in SQL")

    for path in (SAMPLE, edges, toolkit_files[("gcp", "1.3")]):
        with monkeypatch.context() as patched:
            patched.setattr(repository, "build_rollup", no_sql_rollup)
            ingestor, record = await ingest(postgresql, path, unique("fast")[:40], fast=True)
        assert ingestor.stats["fast"] == 1
        _, daily = await ledger_of(postgresql, record["id"])
        assert daily and daily == await sql_rollup_of(postgresql, record["id"]), path
    assert consolidated == [spill] * 3
    # the edited file also against the strict path (rows, rollup, totals per currency)
    _, strict = await ingest(postgresql, edges, unique("slow")[:40], fast=False)
    assert set(strict["totals"]) == {"USD", "EUR"}
    _, fast_again = await ingest(postgresql, edges, unique("fast")[:40], fast=True)
    assert same_totals(fast_again["totals"], strict["totals"])
    assert await ledger_of(postgresql, fast_again["id"]) == await ledger_of(postgresql, strict["id"])


@pytest.mark.parametrize(
    "value",
    ["0.1234567890123456789", "1." + "0" * 57, "5" + "0" * 57 + "e-57", "2.5e-30"],
    ids=["19-decimals", "57-decimals", "exponent-57", "tiny"],
)
async def test_rollup_beyond_arrow_decimals_is_built_in_sql(
    postgresql, toolkit_files, unique, tmp_path: Path, value: str
) -> None:
    # pyarrow 26 casts text with a scale of 57+ to 0 without an error: such values must not reach its sums
    many_digits = tmp_path / "digits.csv"

    def change(records: list[list[str]]) -> list[str]:
        records[5][records[0].index("BilledCost")] = value
        return records[0]

    write_with(many_digits, toolkit_files[("azure", "1.3")], change)
    ingestor, fast = await ingest(postgresql, many_digits, unique("fast")[:40], fast=True)
    _, strict = await ingest(postgresql, many_digits, unique("slow")[:40], fast=False)
    assert ingestor.stats["fast"] == 1
    assert same_totals(fast["totals"], strict["totals"])
    assert await ledger_of(postgresql, fast["id"]) == await ledger_of(postgresql, strict["id"])


async def test_spilled_partial_sums_may_exceed_the_stored_precision(
    postgresql, toolkit_files, unique, tmp_path: Path, monkeypatch
) -> None:
    from economist.ingestion import arrow_rollup
    from economist.sources import focus_arrow

    monkeypatch.setattr(focus_arrow, "_CSV_BLOCK", 16 << 10)
    monkeypatch.setattr(arrow_rollup, "COMBINE_EVERY", 2)
    monkeypatch.setattr(arrow_rollup, "SPILL_GROUPS", 20)
    huge = tmp_path / "huge.csv"

    def change(records: list[list[str]]) -> list[str]:
        cost = records[0].index("BilledCost")
        first = records[1]
        first[cost] = "900000000000000000"  # NUMERIC(30,12) holds < 1e18: two of these do not fit
        records.insert(2, list(first))
        records.append([*first[:cost], "-900000000000000000", *first[cost + 1 :]])
        return records[0]

    write_with(huge, toolkit_files[("aws", "1.3")], change)
    ingestor, fast = await ingest(postgresql, huge, unique("fast")[:40], fast=True)
    _, strict = await ingest(postgresql, huge, unique("slow")[:40], fast=False)
    assert ingestor.stats == {"fast": 1, "strict": 0, "fallback": 0}
    assert same_totals(fast["totals"], strict["totals"])
    assert await ledger_of(postgresql, fast["id"]) == await ledger_of(postgresql, strict["id"])


def float32_costs(source: Path, target: Path) -> None:
    """The file as Parquet with its cost columns as float32 (as some exporters write them)."""
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    for name in ("BilledCost", "EffectiveCost"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(pa.float64()).cast(pa.float32()))
    pq.write_table(table, target)


def test_float32_costs_read_as_their_shortest_text(toolkit_files, tmp_path: Path) -> None:
    path = tmp_path / "float32.parquet"
    float32_costs(toolkit_files[("gcp", "1.3")], path)
    strict = [r for b in open_focus_source(path).batches() for r in b.rows]
    expected = [
        Decimal(str(v)) for v in pq.read_table(path).column("BilledCost").cast(pa.string()).to_pylist()
    ]
    assert [r["billed_cost"] for r in strict] == expected
    assert any(len(str(v)) < 12 for v in expected)  # not a double's 17 digits
    assert_reader_matches_strict(path)


async def test_float32_costs_same_ledger_on_both_paths(
    postgresql, toolkit_files, unique, tmp_path: Path
) -> None:
    path = tmp_path / "float32.parquet"
    float32_costs(toolkit_files[("aws", "1.3")], path)
    fast, fast_record = await ingest(postgresql, path, unique("fast")[:40], fast=True)
    _, strict_record = await ingest(postgresql, path, unique("slow")[:40], fast=False)
    assert fast.stats["fast"] == 1
    assert same_totals(fast_record["totals"], strict_record["totals"])
    assert await ledger_of(postgresql, fast_record["id"]) == await ledger_of(postgresql, strict_record["id"])
