"""The policies API: create, list (kernel pagination), get, patch, delete; validation per type with errors
naming the field; policies from the OCO_ECONOMIST_POLICIES file upserted by name and marked `file`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.economist.governance_helpers import create_policy, economist_api


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    return (await economist_api(settings, serve_app, keystore, unique))[1]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"type": "budget_limit", "params": {}}, "params.amount"),
        ({"type": "budget_limit", "params": {"amount": "-1"}}, "params.amount"),
        ({"type": "budget_limit", "params": {"amount": "5", "currency": "dollars"}}, "params.currency"),
        ({"type": "budget_limit", "params": {"amount": "5", "period": "weekly"}}, "params.period"),
        ({"type": "budget_limit", "params": {"amount": "5", "colour": "red"}}, "params.colour"),
        ({"type": "tag_compliance", "params": {"required_tags": []}}, "params.required_tags"),
        (
            {"type": "tag_compliance", "params": {"required_tags": ["a"], "min_coverage_percent": 101}},
            "params.min_coverage_percent",
        ),
        ({"type": "region_restriction", "params": {}}, "params.allowed_regions"),
        (
            {"type": "service_denylist", "params": {"services": ["S3"], "min_cost": "-0.01"}},
            "params.min_cost",
        ),
        ({"type": "max_resource_cost", "params": {"amount": "0"}}, "params.amount"),
        (
            {"type": "max_resource_cost", "params": {"amount": "1"}, "scope": {"planet": "mars"}},
            "scope.planet",
        ),
        ({"type": "no_such_type", "params": {}}, "type"),
        ({"type": "max_resource_cost", "params": {"amount": "1"}, "severity": "dire"}, "severity"),
        (
            {"type": "max_resource_cost", "params": {"amount": "1"}, "webhook_url": "file:///etc/passwd"},
            "webhook_url",
        ),
    ],
)
async def test_invalid_policies_are_refused_naming_the_field(api, unique, body: dict, param: str) -> None:  # type: ignore[no-untyped-def]
    response = await api.post("/api/v1/governance/policies", json={"name": unique("bad"), **body})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"].replace("body.", "") == param


async def test_policy_crud(api, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("crud")
    created = await create_policy(
        api,
        name=name,
        type="region_restriction",
        params={"allowed_regions": ["eu-west-1"]},
        scope={"tag": {"team": "a"}},
    )
    assert created["enabled"] is True and created["origin"] == "api" and created["severity"] == "medium"
    assert created["params"] == {"allowed_regions": ["eu-west-1"], "min_cost": "0", "lookback_days": 30}
    duplicate = await api.post(
        "/api/v1/governance/policies", json={"name": name, "type": "budget_limit", "params": {"amount": "1"}}
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"]["param"] == "name"

    url = f"/api/v1/governance/policies/{created['id']}"
    assert (await api.get(url)).json() == created
    patched = await api.patch(url, json={"enabled": False, "severity": "high"})
    assert patched.status_code == 200 and (patched.json()["enabled"], patched.json()["severity"]) == (
        False,
        "high",
    )
    wrong = await api.patch(url, json={"params": {"allowed_regions": []}})
    assert wrong.status_code == 422 and wrong.json()["error"]["param"] == "params.allowed_regions"
    retyped = await api.patch(url, json={"type": "budget_limit"})
    assert retyped.status_code == 422 and retyped.json()["error"]["param"] == "params"

    page = await api.get(
        "/api/v1/governance/policies", params={"type": "region_restriction", "enabled": "false", "limit": 1}
    )
    assert page.status_code == 200 and page.json()["limit"] == 1 and page.json()["total"] >= 1
    assert (await api.get("/api/v1/governance/policies", params={"limit": 1001})).status_code == 422

    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).status_code == 404
    assert (await api.delete(url)).status_code == 404
    assert (await api.post(f"{url}/evaluate")).status_code == 404


async def test_policies_file_is_loaded_at_start_and_upserted_by_name(
    settings, serve_app, keystore, unique, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    name = unique("file")
    path = tmp_path / "policies.yaml"
    path.write_text(
        f"""
policies:
  - name: {name}
    type: service_denylist
    params: {{services: [AmazonLightsail]}}
    severity: low
"""
    )
    _, api = await economist_api(settings, serve_app, keystore, unique, oco_economist_policies=path)
    found = [
        p
        for p in (await api.get("/api/v1/governance/policies", params={"limit": 1000})).json()["items"]
        if p["name"] == name
    ]
    assert [(p["origin"], p["enabled"], p["severity"], p["params"]["services"]) for p in found] == [
        ("file", True, "low", ["AmazonLightsail"])
    ]
    path.write_text(path.read_text().replace("severity: low", "severity: high"))
    _, again = await economist_api(settings, serve_app, keystore, unique, oco_economist_policies=path)
    updated = (await again.get(f"/api/v1/governance/policies/{found[0]['id']}")).json()
    assert updated["severity"] == "high" and updated["name"] == name


async def test_an_invalid_policies_file_stops_the_start(settings, unique, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from asgi_lifespan import LifespanManager

    from economist.app import create_app
    from economist.settings import EconomistSettings
    from oco.settings import SettingsError

    path = tmp_path / "policies.yaml"
    path.write_text(f"- name: {unique('x')}\n  type: budget_limit\n  params: {{amount: nope}}\n")
    app = create_app(
        EconomistSettings(_env_file=None, **{**settings.model_dump(), "oco_economist_policies": path})
    )
    with pytest.raises(SettingsError, match="params.amount"):
        async with LifespanManager(app):
            pass
