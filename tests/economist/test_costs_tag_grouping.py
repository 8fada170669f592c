"""Tag grouping: every common spelling of a key is one group by default (AWS/Azure `CostCenter`,
GCP `cost-center`, ...), and the response field echoes the key as the caller wrote it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.ledger.tags import TagNormalizer
from economist.settings import EconomistSettings
from tests.economist.test_costs_queries import focus_csv

SPELLINGS = ("CostCenter", "costCenter", "cost-center", "cost_center", "COST_CENTER", "Cost Center")


def test_default_normalizer_folds_every_spelling_to_one_key() -> None:
    assert {TagNormalizer().key(k) for k in SPELLINGS} == {"cost_center"}
    assert EconomistSettings(_env_file=None).tag_normalizer.key("CostCenter") == "cost_center"
    assert TagNormalizer().key("AWSAccountId") == "aws_account_id"
    assert TagNormalizer(strip_camel=False).key("CostCenter") == "costcenter"  # still configurable


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


async def test_aws_and_gcp_spellings_meet_and_the_field_echoes_the_key(api) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    day = date(2026, 3, 2)
    rows = [
        {
            "provider": f"A-{tag}",
            "day": day,
            "service": "S",
            "cost": Decimal("1.5"),
            "tags": {"CostCenter": "cc1"},
        },
        {
            "provider": f"G-{tag}",
            "day": day,
            "service": "S",
            "cost": Decimal("2"),
            "tags": {"cost-center": "cc1"},
        },
        {
            "provider": f"Z-{tag}",
            "day": day,
            "service": "S",
            "cost": Decimal("4"),
            "tags": {"COST_CENTER": "cc2"},
        },
    ]
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201
    window = {"from": "2026-03-01", "to": "2026-04-01", "filter": f"provider:A-{tag}|G-{tag}|Z-{tag}"}
    for key in ("CostCenter", "cost-center", "costCenter"):
        response = await api.get("/api/v1/costs", params={**window, "group_by": f"tag:{key}"})
        assert response.status_code == 200, response.text
        assert response.json()["rows"] == [
            {f"tag:{key}": "cc2", "cost": "4.000000"},
            {f"tag:{key}": "cc1", "cost": "3.500000"},
        ]
    response = await api.get(
        "/api/v1/costs", params={**window, "filter": window["filter"] + ",tag:Cost_Center=cc1"}
    )
    assert response.json()["total"] == "3.500000"
    response = await api.get("/api/v1/costs/breakdown", params={**window, "dimension": "tag:Environment"})
    assert response.json()["dimension"] == "tag:Environment"
    assert set(response.json()["rows"][0]) == {"tag:Environment", "cost", "share"}
    response = await api.get("/api/v1/costs", params={**window, "group_by": "tag:CostCenter,tag:cost_center"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "group_by"
