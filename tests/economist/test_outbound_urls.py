"""Hardening (issue #16, finding 3): URLs economist fetches follow oco/netguard.py. A budget's or policy's
webhook pointing at the metadata service, loopback or a private network is refused when it is set
(422 `webhook_url`) unless OCO_NOTIFY_ALLOW_HOSTS / OCO_OUTBOUND_ALLOW_HOSTS names it, and checked again
at each delivery (tests/oco/test_netguard.py); the `cerebra` source's URL is checked before each download."""

from __future__ import annotations

from datetime import date

import pytest

from tests.economist.test_budgets import budget_body
from tests.economist.test_source_cerebra import economist_for, finished

INTERNAL = [
    "http://169.254.169.254/latest",
    "http://[fd00:ec2::254]/x",
    "http://127.0.0.1:9/hook",
    "http://10.2.3.4/h",
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_webhooks_are_refused_when_set(
    settings, serve_app, keystore, unique, url: str
) -> None:  # type: ignore[no-untyped-def]
    api = await economist_for(settings, serve_app, keystore, unique, oco_outbound_allow_hosts="")
    for response in (
        await api.post("/api/v1/budgets", json=budget_body("AWS", webhook_url=url)),
        await api.post(
            "/api/v1/governance/policies",
            json={
                "name": unique("p"),
                "type": "max_resource_cost",
                "params": {"amount": "1"},
                "webhook_url": url,
            },
        ),
    ):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["param"] == "webhook_url" and error["code"] == "url_not_allowed", error
        assert "OCO_NOTIFY_ALLOW_HOSTS" in error["message"] and url not in error["message"]
    created = await api.post("/api/v1/budgets", json=budget_body("AWS", webhook_url=None))
    assert created.status_code == 201
    patched = await api.patch(f"/api/v1/budgets/{created.json()['id']}", json={"webhook_url": url})
    assert patched.status_code == 422 and patched.json()["error"]["param"] == "webhook_url"


async def test_allow_listed_webhooks_are_accepted(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    api = await economist_for(settings, serve_app, keystore, unique, oco_outbound_allow_hosts="127.0.0.1")
    response = await api.post(
        "/api/v1/budgets", json=budget_body("AWS", webhook_url="http://127.0.0.1:9/hook")
    )
    assert response.status_code == 201, response.text


async def test_the_cerebra_source_url_is_checked_before_download(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    from tests.economist.fakes.cerebra_focus import CerebraFocusFake
    from tests.economist.fakes.http import LoopbackServer

    fake = CerebraFocusFake("oco_cerebra-key-for-economist", unique("acct"))
    with LoopbackServer(fake) as server:
        api = await economist_for(
            settings, serve_app, keystore, unique, oco_outbound_allow_hosts="",
            oco_economist_cerebra_url=server.url, oco_economist_cerebra_api_key="oco_cerebra-key-for-economist",
        )  # fmt: skip
        body = {"source": "cerebra", "period": {"start": date(2024, 9, 10).isoformat(), "end": "2024-09-11"}}
        started = await api.post("/api/v1/ingestions", json=body)
        assert started.status_code == 202, started.text
        record = await finished(api, started.json()["id"])
        assert server.requests == []  # nothing was sent (the key included)
    assert record["status"] == "failed"
    message = record["errors"][0]["message"]
    assert "OCO_OUTBOUND_ALLOW_HOSTS" in message and "127.0.0.1" not in message
