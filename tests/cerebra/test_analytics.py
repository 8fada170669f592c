"""/api/v1/analytics over real HTTP on both back ends: spend, usage, cache, top spenders, latency,
spikes and recommendations equal what the test computes (Decimal) from the rows it logged; the FOCUS
export ingests through economist's own FOCUS reader and its `cerebra` source with totals equal to
/spend; parameters are validated with errors naming the field; retention deletes old rows."""

from __future__ import annotations

import io
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import openai
import pytest

from cerebra.analytics.retention import delete_before
from cerebra.pricing.catalog import lookup
from cerebra.pricing.cost import request_cost
from economist.sources.cerebra import CerebraSource
from economist.sources.focus import FocusSource
from oco.netguard import AddressPolicy
from tests.cerebra.analytics_rows import insert, make_rows, window_start
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


@pytest.fixture
def api(default_gateway, admin_key):  # type: ignore[no-untyped-def]
    server = default_gateway()
    with httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=30) as client:
        client.base = server.url  # type: ignore[attr-defined]
        yield client


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _cost(rows) -> Decimal:  # type: ignore[no-untyped-def]
    return sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0))


async def test_spend_usage_cache_and_top_equal_the_logged_rows(api, database) -> None:  # type: ignore[no-untyped-def]
    start = window_start()
    rows = make_rows(start, 600, seed=1)
    await insert(database, rows)
    window = {"from": start.date().isoformat(), "to": (start + timedelta(days=2)).date().isoformat()}

    spend = api.get("/api/v1/analytics/spend", params={**window, "group_by": "model", "granularity": "day"})
    assert spend.status_code == 200, spend.text
    body = spend.json()
    expected: dict[tuple[str, str], list] = defaultdict(list)
    for r in rows:
        expected[(_iso(_day(r["created_at"])), r["model"])].append(r)
    got = {(x["period"].replace("+00:00", "Z"), x["model"]): x for x in body["rows"]}
    assert set(got) == set(expected)
    for k, group in expected.items():
        assert Decimal(got[k]["cost"]) == _cost(group)
        assert got[k]["requests"] == len(group)
        assert got[k]["cost"] == f"{_cost(group):.6f}"
    assert Decimal(body["total_cost"]) == _cost(rows) and body["total_requests"] == len(rows)
    assert body["from"].startswith(window["from"]) and body["group_by"] == "model"

    by_team = api.get("/api/v1/analytics/spend", params={**window, "group_by": "team"}).json()["rows"]
    teams: dict[str, list] = defaultdict(list)
    for r in rows:
        teams[r["team_id"]].append(r)
    assert {x["team"]: Decimal(x["cost"]) for x in by_team} == {t: _cost(g) for t, g in teams.items()}

    # an hour-unaligned window reads the log itself (on PostgreSQL, not the rollup): still exact
    odd = {
        "from": _iso(start + timedelta(minutes=90, seconds=7)),
        "to": _iso(start + timedelta(hours=30, minutes=1)),
    }
    inside = [
        r
        for r in rows
        if start + timedelta(minutes=90, seconds=7)
        <= r["created_at"]
        < start + timedelta(hours=30, minutes=1)
    ]
    by_key = api.get("/api/v1/analytics/spend", params={**odd, "group_by": "key"}).json()
    assert Decimal(by_key["total_cost"]) == _cost(inside)
    keys: dict[int, list] = defaultdict(list)
    for r in inside:
        keys[r["key_id"]].append(r)
    assert {x["key"]: x["requests"] for x in by_key["rows"]} == {k: len(g) for k, g in keys.items()}

    usage = api.get("/api/v1/analytics/usage", params={**window, "group_by": "provider"}).json()["rows"]
    providers: dict[str, list] = defaultdict(list)
    for r in rows:
        providers[r["provider"]].append(r)
    for x in usage:
        group = providers[x["provider"]]
        assert x["requests"] == len(group)
        assert x["errors"] == sum(r["status_code"] >= 400 for r in group)
        assert x["prompt_tokens"] == sum(r["prompt_tokens"] for r in group)
        assert x["completion_tokens"] == sum(r["completion_tokens"] for r in group)
        assert x["cache_read_tokens"] == sum(r["cache_read_tokens"] for r in group)
        assert x["total_tokens"] == x["prompt_tokens"] + x["completion_tokens"]

    cache = api.get("/api/v1/analytics/cache", params=window).json()
    hits = [r for r in rows if r["cache_hit"]]
    assert cache["cache_hits"] == len(hits) and cache["requests"] == len(rows)
    assert Decimal(cache["saved_cost"]) == sum((r["saved_cost_usd"] for r in hits), Decimal(0))
    assert cache["hit_ratio"] == round(len(hits) / len(rows), 6)

    top = api.get("/api/v1/analytics/top-spenders", params={**window, "dimension": "key", "limit": 2}).json()
    all_keys: dict[int, list] = defaultdict(list)
    for r in rows:
        all_keys[r["key_id"]].append(r)
    ranking = sorted(all_keys, key=lambda k: _cost(all_keys[k]), reverse=True)[:2]
    assert [x["key"] for x in top["rows"]] == ranking
    assert [Decimal(x["cost"]) for x in top["rows"]] == [_cost(all_keys[k]) for k in ranking]


async def test_latency_percentiles(api, database) -> None:  # type: ignore[no-untyped-def]
    start = window_start()
    rows = make_rows(start, 300, seed=2)
    await insert(database, rows)
    window = {"from": start.date().isoformat(), "to": (start + timedelta(days=2)).date().isoformat()}
    answer = api.get("/api/v1/analytics/latency", params=window)
    assert answer.status_code == 200, answer.text
    for x in answer.json()["rows"]:
        ok = [r for r in rows if r["model"] == x["model"] and r["status_code"] < 400]
        cuts = statistics.quantiles([r["latency_ms"] for r in ok], n=100, method="inclusive")
        assert x["requests"] == len(ok)
        for name, cut in (("p50", cuts[49]), ("p95", cuts[94]), ("p99", cuts[98])):
            assert x["latency_ms"][name] == pytest.approx(cut, abs=1e-6)
        ttft = statistics.quantiles(
            [r["ttft_ms"] for r in ok if r["ttft_ms"] is not None], n=100, method="inclusive"
        )
        assert x["ttft_ms"]["p95"] == pytest.approx(ttft[94], abs=1e-6)


async def test_spikes_against_the_7_day_baseline(api, database) -> None:  # type: ignore[no-untyped-def]
    end = window_start() + timedelta(days=10)
    recent = end - timedelta(hours=1)
    rows = make_rows(recent, 7 * 24 + 5, seed=3, days=0)
    for k, r in enumerate(rows):  # baseline: one 0.01 call an hour for 7 days; then 5 calls of 0.02
        baseline = k < 7 * 24
        r.update(
            model="gpt-4o", status_code=200, unpriced=False, cost_usd=Decimal("0.01" if baseline else "0.02")
        )
        r["created_at"] = recent - timedelta(days=7) + timedelta(hours=k, minutes=30) if baseline else recent
    await insert(database, rows)
    answer = api.get("/api/v1/analytics/spikes", params={"to": _iso(end), "hours": 1, "dimension": "model"})
    assert answer.status_code == 200, answer.text
    (row,) = [x for x in answer.json()["rows"] if x["model"] == "gpt-4o"]
    assert Decimal(row["recent_cost"]) == Decimal("0.10")
    assert Decimal(row["baseline_cost"]) == Decimal("0.01")
    assert row["ratio"] == 10.0 and row["spike"] is True and row["recent_requests"] == 5


async def test_recommendations_price_the_same_tokens_on_the_cheaper_model(api, database) -> None:  # type: ignore[no-untyped-def]
    start = window_start()
    rows = make_rows(start, 40, seed=4)
    day = start.date()
    gpt4o = lookup("gpt-4o", day)
    assert gpt4o is not None
    for r in rows:
        r.update(model="gpt-4o", provider="openai", status_code=200, cache_hit=False, unpriced=False)
        r.update(
            prompt_tokens=200 + r["prompt_tokens"] % 500, completion_tokens=10 + r["completion_tokens"] % 200
        )
        r["cost_usd"] = request_cost(
            gpt4o.prices,
            r["prompt_tokens"],
            r["completion_tokens"],
            r["cache_read_tokens"],
            r["cache_creation_tokens"],
        )
    long_call = dict(rows[0], request_id="long-" + rows[0]["request_id"][:20], prompt_tokens=50_000)
    await insert(database, [*rows, long_call])
    window = {"from": day.isoformat(), "to": (day + timedelta(days=3)).isoformat()}
    body = api.get("/api/v1/analytics/recommendations", params=window).json()
    (rec,) = body["rows"]
    mini = lookup("gpt-4o-mini", day + timedelta(days=3))
    assert mini is not None
    tokens = [
        sum(r[n] for r in rows)
        for n in ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_creation_tokens")
    ]
    suggested = request_cost(mini.prices, *tokens)
    assert suggested is not None
    current = _cost(rows)
    assert (rec["model"], rec["suggested_model"], rec["requests"]) == ("gpt-4o", "gpt-4o-mini", len(rows))
    assert Decimal(rec["current_cost"]) == current and Decimal(rec["suggested_cost"]) == suggested
    assert Decimal(rec["saving"]) == current - suggested > 0
    assert Decimal(body["total_saving"]) == current - suggested


async def test_focus_export_ingests_through_economist_with_spend_totals(api, admin_key, database) -> None:  # type: ignore[no-untyped-def]
    start = window_start()
    rows = make_rows(start, 500, seed=5)
    await insert(database, rows)
    first, last = start.date(), (start + timedelta(days=2)).date()
    window = {"from": first.isoformat(), "to": last.isoformat()}
    spend = api.get("/api/v1/analytics/spend", params=window).json()

    groups = {
        (
            _day(r["created_at"]) + timedelta(hours=r["created_at"].hour),
            r["key_id"],
            r["model"],
            r["team_id"],
            r["agent_id"],
        )
        for r in rows
    }
    # economist's own cerebra source (HTTP download, FOCUS reader) against the running cerebra
    loopback = AddressPolicy.parse(
        "127.0.0.1", setting="OCO_OUTBOUND_ALLOW_HOSTS"
    )  # the test serves cerebra there
    source = CerebraSource(api.base, admin_key, first, last, addresses=loopback)
    ledger = [row for batch in source.batches() for row in batch.rows]
    assert len(ledger) == len(groups)
    billed = sum((r["billed_cost"] for r in ledger), Decimal(0))
    assert billed == Decimal(spend["total_cost"]) == _cost(rows)
    assert all(r["effective_cost"] == r["billed_cost"] for r in ledger)
    sample = next(r for r in ledger if r["tags"].get("agent"))
    assert sample["service_category"] == "AI and Machine Learning" and sample["charge_category"] == "Usage"
    assert sample["provider_name"] in ("OpenAI", "Anthropic") and sample["billing_currency"] == "USD"
    assert set(sample["tags"]) == {"team", "org", "agent", "alias"}
    assert sample["charge_period_end"] - sample["charge_period_start"] == timedelta(hours=1)
    by_key: dict[str, Decimal] = defaultdict(Decimal)
    for r in ledger:
        by_key[r["sub_account_id"]] += r["billed_cost"]
    spend_keys = api.get("/api/v1/analytics/spend", params={**window, "group_by": "key"}).json()["rows"]
    assert by_key == {f"key-{x['key']}": Decimal(x["cost"]) for x in spend_keys}

    parquet = api.get("/api/v1/analytics/focus", params={**window, "format": "parquet"})
    assert parquet.status_code == 200 and parquet.headers["content-type"] == "application/vnd.apache.parquet"
    from_parquet = [
        row
        for b in FocusSource(io.BytesIO(parquet.content), filename="x.parquet").batches()
        for row in b.rows
    ]
    assert sum((r["billed_cost"] for r in from_parquet), Decimal(0)) == Decimal(spend["total_cost"])
    assert len(from_parquet) == len(groups)


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("spend", {"group_by": "colour"}, "group_by"),
        ("spend", {"from": "yesterday"}, "from"),
        ("spend", {"to": "2026-13-01"}, "to"),
        ("spend", {"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ("spend", {"from": "2024-01-01", "to": "2026-01-01"}, "from"),
        ("top-spenders", {"dimension": "country"}, "dimension"),
        ("latency", {"from": "2026-01-01", "to": "2026-06-01"}, "from"),
        ("spikes", {"min_cost": "lots"}, "min_cost"),
        ("focus", {"from": "1999-12-31"}, "from"),
    ],
)
def test_invalid_parameters_name_the_field(api, path, params, param) -> None:  # type: ignore[no-untyped-def]
    answer = api.get(f"/api/v1/analytics/{path}", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


def test_framework_validated_parameters_name_the_field(api) -> None:  # type: ignore[no-untyped-def]
    for path, params, param in (
        ("spend", {"granularity": "week"}, "granularity"),
        ("top-spenders", {"limit": "0"}, "limit"),
        ("focus", {"format": "xlsx"}, "format"),
    ):
        answer = api.get(f"/api/v1/analytics/{path}", params=params)
        assert 400 <= answer.status_code < 500, answer.text
        assert param in str(answer.json()["error"]["param"])


def test_defaults_to_the_last_7_days(api) -> None:  # type: ignore[no-untyped-def]
    body = api.get("/api/v1/analytics/spend").json()
    start = datetime.fromisoformat(body["from"])
    end = datetime.fromisoformat(body["to"])
    assert end - start == timedelta(days=7) and end > datetime.now(UTC)


async def test_retention_deletes_old_rows_and_their_rollup(database) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2001, 1, 1, tzinfo=UTC)  # before every other test's rows: the sweep deletes only these
    rows = make_rows(start, 30, seed=6, days=1)
    await insert(database, rows)
    cutoff = start + timedelta(hours=12)
    # bounded batches: more than one round
    deleted = await delete_before(database, cutoff, batch=4)
    assert deleted >= sum(r["created_at"] < cutoff for r in rows)
    left = {r["request_id"] for r in await table_rows(database, "api_requests")}
    assert all((r["request_id"] in left) == (r["created_at"] >= cutoff) for r in rows)


async def test_calls_through_the_gateway_show_in_spend_and_focus(
    gateway, fake_openai, keystore, admin_key, unique
) -> None:  # type: ignore[no-untyped-def]
    """Real calls (plain and streamed) logged by the gateway's writer reach /spend (on PostgreSQL through the
    rollup trigger) with the cost the test computes from the fake's usage and the price table."""
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    key = (await keystore.create(unique("app"), ["cerebra"])).plaintext
    team = unique("team")
    usages = [(120, 40), (900, 12), (33, 250), (7, 7)]
    fake_openai.enqueue(*(Reply(usage=u) for u in usages))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
    for n, _usage in enumerate(usages):
        messages = [{"role": "user", "content": f"hello {n}"}]
        if n % 2:
            stream = client.chat.completions.create(
                model="chat", messages=messages, stream=True, stream_options={"include_usage": True},
                extra_headers={"X-Team-ID": team},
            )  # fmt: skip
            for _chunk in stream:
                pass
        else:
            client.chat.completions.create(model="chat", messages=messages, extra_headers={"X-Team-ID": team})
    prices = lookup("gpt-4o-mini")
    assert prices is not None
    expected = sum((request_cost(prices.prices, p, c) or Decimal(0) for p, c in usages), Decimal(0))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = {
        "from": _iso(now - timedelta(hours=1)),
        "to": _iso(now + timedelta(hours=2)),
        "group_by": "team",
    }
    admin = httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=10)
    deadline = time.monotonic() + 15
    while True:  # the writer flushes within OCO_WRITER_FLUSH_INTERVAL_S
        rows = [
            r for r in admin.get("/api/v1/analytics/spend", params=window).json()["rows"] if r["team"] == team
        ]
        if (rows and rows[0]["requests"] == len(usages)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert rows and rows[0]["requests"] == len(usages)
    assert Decimal(rows[0]["cost"]) == expected > 0
    csv_text = admin.get("/api/v1/analytics/focus", params={k: window[k] for k in ("from", "to")}).content
    ledger = [r for b in FocusSource(io.BytesIO(csv_text), filename="f.csv").batches() for r in b.rows]
    mine = [r for r in ledger if r["tags"].get("team") == team]
    assert sum((r["billed_cost"] for r in mine), Decimal(0)) == expected
    assert mine and all(r["service_name"].startswith("gpt-4o-mini") for r in mine)
