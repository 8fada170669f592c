"""Hardening (issue #16, finding 5): a billing file is bounded while it streams: its decompressed size
(OCO_ECONOMIST_MAX_DECOMPRESSED_BYTES), one line (OCO_ECONOMIST_MAX_LINE_BYTES) and one CSV field
(OCO_ECONOMIST_MAX_FIELD_BYTES). A gzip bomb or a file of one endless line fails its ingestion cleanly
(400, the reason naming the setting, nothing written) instead of being read into memory whole."""

from __future__ import annotations

import gzip
import io
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.settings import EconomistSettings
from economist.sources.limits import BoundedStream, ReadLimits, SourceLimitExceeded
from tests.economist.test_costs_queries import HEADER, focus_csv

LIMITS = {
    "oco_economist_max_decompressed_bytes": 2 * 1024 * 1024,
    "oco_economist_max_line_bytes": 64 * 1024,
    "oco_economist_max_field_bytes": 16 * 1024,
}


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    values = {**settings.model_dump(), **LIMITS}
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **values)))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    yield client
    create_app(EconomistSettings(_env_file=None, **settings.model_dump()))  # the default bounds again


def _rows(provider: str, n: int, **extra: object) -> list[dict]:
    first = date(2026, 2, 1)
    return [
        {"provider": provider, "day": first + timedelta(days=i % 28), "service": "Compute",
         "resource": f"r-{i}", "cost": Decimal("1.5"), **extra}
        for i in range(n)
    ]  # fmt: skip


async def _refused(api, content: bytes, name: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    provider = name.split(".")[0]
    response = await api.post("/api/v1/ingestions/upload", content=content, params={"filename": name})
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["error"]["code"] and set(body["error"]) == {"message", "type", "param", "code"}
    messages = " ".join(e["message"] for e in body.get("errors", [])) + body["error"]["message"]
    assert reason in messages, messages[:500]
    costs = await api.get(
        "/api/v1/costs", params={"from": "2026-01-01", "to": "2026-04-01", "filter": f"provider:{provider}"}
    )
    assert costs.json()["rows"] == []  # nothing of it was written


async def test_a_single_endless_line_in_a_gzip_fails_cleanly(api) -> None:  # type: ignore[no-untyped-def]
    bomb = gzip.compress(",".join(HEADER).encode() + b"\n" + b"A" * (5 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 64 * 1024  # a small upload that expands a hundredfold
    await _refused(api, bomb, f"P{uuid.uuid4().hex[:6]}.csv.gz", "OCO_ECONOMIST_MAX_LINE_BYTES")
    plain_header = b"A" * (1024 * 1024)  # an endless first line, uncompressed
    await _refused(api, plain_header, f"P{uuid.uuid4().hex[:6]}.csv", "OCO_ECONOMIST_MAX_LINE_BYTES")


async def test_a_file_expanding_past_the_bound_fails_cleanly(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"P{uuid.uuid4().hex[:6]}"
    content = gzip.compress(focus_csv(_rows(provider, 15_000)), compresslevel=9)
    assert len(gzip.decompress(content)) > LIMITS["oco_economist_max_decompressed_bytes"]
    await _refused(api, content, f"{provider}.csv.gz", "OCO_ECONOMIST_MAX_DECOMPRESSED_BYTES")


async def test_a_field_past_the_bound_fails_cleanly(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"P{uuid.uuid4().hex[:6]}"
    content = focus_csv(
        _rows(provider, 3, tags={"note": "n" * 40_000})
    )  # one line < 64 KiB, a field > 16 KiB
    await _refused(api, content, f"{provider}.csv", "field larger than field limit")


async def test_files_within_the_bounds_still_load(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"P{uuid.uuid4().hex[:6]}"
    content = gzip.compress(focus_csv(_rows(provider, 500)))
    response = await api.post("/api/v1/ingestions/upload", content=content, params={"filename": "ok.csv.gz"})
    assert response.status_code == 201, response.text[:300]
    assert response.json()["rows"] == 500


def test_the_bounded_stream_counts_lines_across_reads() -> None:
    limits = ReadLimits(max_decompressed_bytes=10_000, max_line_bytes=100, max_field_bytes=100)
    ok = BoundedStream(io.BytesIO((b"x" * 99 + b"\n") * 50), limits)
    assert len(io.BufferedReader(ok, buffer_size=64).read()) == 5000
    long_line = io.BufferedReader(BoundedStream(io.BytesIO(b"y" * 60 + b"\n" + b"z" * 150), limits), 16)
    with pytest.raises(SourceLimitExceeded, match="MAX_LINE_BYTES"):
        long_line.read()
    too_big = io.BufferedReader(BoundedStream(io.BytesIO((b"w" * 50 + b"\n") * 300), limits), 64)
    with pytest.raises(SourceLimitExceeded, match="MAX_DECOMPRESSED_BYTES"):
        too_big.read()
