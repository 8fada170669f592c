"""Hardening (issue #16, finding 1): tag keys follow one rule at the edge (NUL, quotes, parentheses are a 400
naming the parameter, never a database error), JSON paths are built only from keys that pass it, and the
fx-rates CSV takes bare-CR line ends and answers a malformed line with a 400."""

from __future__ import annotations

import pytest

from economist.ledger.tables import cloud_costs
from economist.ledger.tags import TAG_KEY_HELP, is_valid_tag_key, tag_value
from tests.economist import test_costs_queries
from tests.economist.test_budgets import budget_body

api = test_costs_queries.api  # the fixtures: an economist app and a crafted, tagged ledger
ledger = test_costs_queries.ledger
WINDOW = {"from": "2026-02-01", "to": "2026-04-30"}
BAD_KEYS = ["a\x00", 'x")', "a'b", "a(b)", 'a"', "a\\b", "k" * 129]


def _refused(response, param: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, error
    assert TAG_KEY_HELP in error["message"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_tag_keys_are_400_on_every_query(api, ledger, key: str) -> None:  # type: ignore[no-untyped-def]
    _refused(await api.get("/api/v1/costs", params={**WINDOW, "group_by": f"tag:{key}"}), "group_by")
    _refused(await api.get("/api/v1/costs", params={**WINDOW, "filter": f"tag:{key}=b"}), "filter")
    _refused(
        await api.get("/api/v1/costs/breakdown", params={**WINDOW, "dimension": f"tag:{key}"}), "dimension"
    )
    _refused(await api.get("/api/v1/allocation", params={**WINDOW, "by": f"tag:{key}"}), "by")
    _refused(await api.get("/api/v1/costs/forecast", params={"group_by": f"tag:{key}"}), "group_by")


async def test_valid_tag_keys_still_group(api, ledger) -> None:  # type: ignore[no-untyped-def]
    own = {**WINDOW, "filter": f"provider:{ledger[0]}"}  # this test's rows only (one currency)
    for key in ("Cost-Center", "cost_center", "aws:createdBy", "team name", "a.b/c=d+e@f", "k" * 128):
        response = await api.get("/api/v1/costs", params={**own, "group_by": f"tag:{key}"})
        assert response.status_code == 200, (key, response.text)
    rows = (await api.get("/api/v1/costs", params={**own, "group_by": "tag:CostCenter"})).json()["rows"]
    assert {r["tag:CostCenter"] for r in rows} == {"alpha", "beta", None}


async def test_scopes_and_policies_refuse_bad_tag_keys(api, unique) -> None:  # type: ignore[no-untyped-def]
    body = budget_body("AWS", scope={"provider": "AWS", "tag": {"a\x00": "x"}})
    response = await api.post("/api/v1/budgets", json=body)
    assert response.status_code == 422 and response.json()["error"]["param"].startswith("scope.tag"), (
        response.text
    )
    for policy in (
        {"type": "tag_compliance", "params": {"required_tags": ['x")']}},
        {"type": "tag_compliance", "params": {"required_tags": ["team"], "allowed_values": {"a(b)": ["x"]}}},
        {"type": "max_resource_cost", "params": {"amount": "1"}, "scope": {"tag": {"a\x00": "v"}}},
    ):
        response = await api.post("/api/v1/governance/policies", json={"name": unique("bad-tag"), **policy})
        assert response.status_code == 422, response.text
        assert TAG_KEY_HELP in response.json()["error"]["message"]


def test_json_paths_are_built_only_from_valid_keys() -> None:
    assert is_valid_tag_key("cost_center") and not is_valid_tag_key('a"') and not is_valid_tag_key("")
    tag_value(cloud_costs.c.tags_normalized, "cost_center")  # builds
    for key in BAD_KEYS:
        with pytest.raises(ValueError, match="tag key"):
            tag_value(cloud_costs.c.tags_normalized, key)


async def test_fx_csv_with_bare_cr_line_ends_loads(api) -> None:  # type: ignore[no-untyped-def]
    body = b"date,base,quote,rate\r2024-01-01,EUR,USD,1.1\r2024-01-02,EUR,USD,1.2\r"
    response = await api.post("/api/v1/fx-rates/csv", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 201, response.text
    assert response.json() == {"loaded": 2}


@pytest.mark.parametrize(
    "body",
    [
        b"date,base,quote,rate\n2024-01-01,EUR,USD,1\r.1\n",  # a CR inside a field
        b"date,base,quote,rate\n2024-01-01,EUR,US\x00D,1.1\n",  # a NUL
    ],
)
async def test_fx_csv_malformed_lines_are_400(api, body: bytes) -> None:  # type: ignore[no-untyped-def]
    response = await api.post("/api/v1/fx-rates/csv", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
