"""The admin API (scope `admin`) over real HTTP: keys created once-shown, listed without secrets,
changed and revoked with effect on the gateway at once; a key's model allow-list refuses other aliases
before any provider is called; teams and orgs as rows; every write in the audit log with before/after."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


def _admin(server, key: str) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=10)


def _sdk(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def _routes(fake) -> dict:  # type: ignore[no-untyped-def]
    return {
        "chat": {"deployments": [deployment(fake, "gpt-4o-mini")]},
        "premium": {"deployments": [deployment(fake, "gpt-4o")]},
    }


async def test_key_lifecycle_with_allow_list_and_audit(
    gateway, fake_openai, admin_key, unique, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai))
    admin = _admin(server, admin_key)
    team, org = unique("search"), unique("acme")
    created = admin.post(
        "/api/v1/keys",
        json={
            "name": "app",
            "scopes": ["cerebra"],
            "team": team,
            "org": org,
            "models": ["chat"],
            "expires_at": None,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key, key_id = body["key"], body["id"]
    assert key.startswith("oco_") and body["key_prefix"] == key[:12] and body["status"] == "active"
    assert (body["team"], body["org"], body["models"]) == (team, org, ["chat"])

    listed = admin.get("/api/v1/keys", params={"limit": 1000}).json()
    assert key not in str(listed) and "key_hash" not in str(listed)
    assert any(item["id"] == key_id for item in listed["items"])
    assert "key" not in admin.get(f"/api/v1/keys/{key_id}").json()

    # the allow-list: the named alias works, any other is 403 before the provider is called
    sdk = _sdk(server, key)
    fake_openai.enqueue(Reply(text="ok"))
    assert sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}]).choices
    calls = len(fake_openai.requests)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        sdk.chat.completions.create(model="premium", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.code == "model_not_allowed"
    assert len(fake_openai.requests) == calls
    assert [m.id for m in sdk.models.list()] == ["chat"]

    # the key is bound to its org: claiming another is refused; the log row carries the bound one
    with pytest.raises(openai.PermissionDeniedError) as mismatch:
        sdk.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"X-Org-ID": "other"}
        )
    assert mismatch.value.code == "org_mismatch"

    # PATCH takes effect at once on this replica
    changed = admin.patch(f"/api/v1/keys/{key_id}", json={"models": ["chat", "premium"], "name": "app-2"})
    assert changed.status_code == 200 and changed.json()["models"] == ["chat", "premium"]
    fake_openai.enqueue(Reply(text="ok"))
    assert sdk.chat.completions.create(model="premium", messages=[{"role": "user", "content": "hi"}]).choices

    teams = admin.get("/api/v1/teams", params={"limit": 1000}).json()["items"]
    assert {"name": team, "org": org} in [{"name": t["name"], "org": t["org"]} for t in teams]
    assert admin.get(f"/api/v1/orgs/{org}").status_code == 200

    assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 204
    assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 404
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert admin.get(f"/api/v1/keys/{key_id}").json()["status"] == "revoked"

    trail = admin.get("/api/v1/audit", params={"entity": "key", "entity_id": str(key_id)}).json()["items"]
    assert [entry["action"] for entry in trail] == ["revoke", "update", "create"]
    assert trail[1]["before"]["models"] == ["chat"] and trail[1]["after"]["models"] == ["chat", "premium"]
    assert trail[2]["before"] is None and trail[2]["actor"].startswith("admin-")
    assert key not in str(trail)
    server.stop()
    rows = [r for r in await table_rows(database, "api_requests") if r["key_id"] == key_id]
    assert rows and all(r["org_id"] == org and r["team_id"] == team for r in rows)
    refusals = sorted(r["error_type"] for r in rows if r["status_code"] == 403)  # refusals are logged too
    assert refusals == ["model_not_allowed", "org_mismatch"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": ["cerebra"], "colour": "red"}, "colour"),
        ({"name": " ", "scopes": ["cerebra"]}, "name"),
        ({"name": "x", "scopes": ["cerebra"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["cerebra"], "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"scopes": ["cerebra"]}, "name"),
    ],
)
def test_invalid_keys_are_refused_naming_the_field(gateway, fake_openai, admin_key, body, field) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai))
    answer = _admin(server, admin_key).post("/api/v1/keys", json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["error"]["param"]


def test_admin_routes_need_the_admin_scope(gateway, fake_openai, cerebra_key, unique) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai))
    for method, path in [("GET", "/api/v1/keys"), ("POST", "/api/v1/teams"), ("GET", "/api/v1/audit")]:
        answer = _admin(server, cerebra_key).request(method, path, json={"name": unique("t")})
        assert answer.status_code == 403, (path, answer.text)
        assert httpx.request(method, server.url + path).status_code == 401


def test_teams_and_orgs(gateway, fake_openai, admin_key, unique) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai))
    admin = _admin(server, admin_key)
    org, team = unique("org"), unique("team")
    assert admin.post("/api/v1/orgs", json={"name": org, "description": "d"}).status_code == 201
    assert admin.post("/api/v1/orgs", json={"name": org}).status_code == 409
    made = admin.post("/api/v1/teams", json={"name": team, "org": org})
    assert made.status_code == 201 and made.json()["org"] == org
    assert admin.post("/api/v1/teams", json={"name": team}).json()["error"]["code"] == "team_exists"
    assert admin.get(f"/api/v1/teams/{team}").json()["org"] == org
    assert admin.get(f"/api/v1/teams/{unique('none')}").status_code == 404
    audit = admin.get("/api/v1/audit", params={"entity": "team", "entity_id": team}).json()["items"]
    assert audit[0]["action"] == "create" and audit[0]["after"]["org"] == org
