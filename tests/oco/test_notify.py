"""oco.notify over real HTTP: a loopback aiohttp receiver gets the exact body signed with the secret, a
failed attempt is retried and both attempts are logged, pending deliveries survive a restart, and
non-public addresses, missing secrets and refused requests fail with their reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from oco.db import Database
from oco.notify import AddressPolicy, Notifier, Refused, RetryPolicy, slack_body, verify

SECRET = "test-secret-" + "x" * 20
LOOPBACK = AddressPolicy.parse("127.0.0.1")
FAST = RetryPolicy(max_attempts=3, backoff_s=0.01, backoff_max_s=0.05, timeout_s=5)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering the statuses queued in `answers` (then 200)."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.received.append((await request.read(), dict(request.headers)))
        return web.Response(status=state.answers.pop(0) if state.answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


async def settled(notifier: Notifier, delivery_id: int) -> dict[str, Any]:
    """The delivery once it is no longer pending (the worker runs in the background)."""
    for _ in range(600):
        delivery = await notifier.get(delivery_id)
        assert delivery is not None
        if delivery["status"] != "pending":
            return delivery
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery {delivery_id} still pending")


async def test_signed_delivery_is_retried_after_a_500_and_logs_both_attempts(
    database: Database, receiver: Receiver, unique
) -> None:  # type: ignore[no-untyped-def]
    receiver.answers = [500]
    notifier = Notifier(database, SECRET, service=unique("svc"), addresses=LOOPBACK, retry=FAST)
    notifier.start()
    try:
        delivery_id = await notifier.send(receiver.url, "violation.opened", {"amount": "12.50", "n": 1})
        delivery = await settled(notifier, delivery_id)
    finally:
        await notifier.stop()
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 2
    log = delivery["attempt_log"]
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in log] == [
        (1, "failed", 500),
        (2, "succeeded", 200),
    ]
    assert log[0]["error"] == "HTTP 500" and all(isinstance(a["duration_ms"], int) for a in log)
    assert len(receiver.received) == 2
    body, headers = receiver.received[-1]
    assert verify(SECRET, body, headers["X-OCO-Signature"])
    assert not verify("another-secret", body, headers["X-OCO-Signature"])
    assert headers["X-OCO-Signature"].startswith("sha256=")
    assert headers["X-OCO-Event"] == "violation.opened"
    assert headers["X-OCO-Delivery"] == str(delivery_id)
    assert json.loads(body) == {"amount": "12.50", "n": 1} == delivery["payload"]
    assert SECRET not in json.dumps(delivery, default=str)


async def test_slack_payload_is_sent_as_text(database: Database, receiver: Receiver, unique) -> None:  # type: ignore[no-untyped-def]
    notifier = Notifier(database, SECRET, service=unique("svc"), addresses=LOOPBACK, retry=FAST)
    delivery_id = await notifier.send(receiver.url, "anomaly.detected", slack_body("cost spike on EC2"))
    assert await notifier.deliver_due() == 1
    assert (await notifier.get(delivery_id))["status"] == "succeeded"  # type: ignore[index]
    assert json.loads(receiver.received[0][0]) == {"text": "cost spike on EC2"}


async def test_pending_deliveries_resume_after_a_restart(
    database: Database, receiver: Receiver, unique
) -> None:  # type: ignore[no-untyped-def]
    service = unique("svc")
    before = Notifier(database, SECRET, service=service, addresses=LOOPBACK, retry=FAST)
    delivery_id = await before.send(receiver.url, "budget.threshold", {"percent": 80})
    await before.stop()  # the process ends before its worker ran
    assert receiver.received == []
    after = Notifier(database, SECRET, service=service, addresses=LOOPBACK, retry=FAST)
    after.start()
    try:
        delivery = await settled(after, delivery_id)
    finally:
        await after.stop()
    assert delivery["status"] == "succeeded" and len(receiver.received) == 1


async def test_gives_up_after_max_attempts_and_reports_the_failure(
    database: Database, receiver: Receiver, unique
) -> None:  # type: ignore[no-untyped-def]
    receiver.answers = [503, 503, 503, 503]
    failed: list[dict[str, Any]] = []
    notifier = Notifier(
        database, SECRET, service=unique("svc"), addresses=LOOPBACK, retry=FAST, on_failed=failed.append
    )
    notifier.start()
    try:
        delivery = await settled(notifier, await notifier.send(receiver.url, "e", {}))
    finally:
        await notifier.stop()
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert len(receiver.received) == 3 and [f["id"] for f in failed] == [delivery["id"]]


async def test_a_4xx_refusal_is_not_retried(database: Database, receiver: Receiver, unique) -> None:  # type: ignore[no-untyped-def]
    receiver.answers = [404]
    notifier = Notifier(database, SECRET, service=unique("svc"), addresses=LOOPBACK, retry=FAST)
    delivery_id = await notifier.send(receiver.url, "e", {})
    await notifier.deliver_due()
    delivery = await notifier.get(delivery_id)
    assert delivery is not None
    assert (delivery["status"], delivery["attempts"], delivery["last_http_status"]) == ("failed", 1, 404)


async def test_loopback_is_refused_unless_allowed(database: Database, receiver: Receiver, unique) -> None:  # type: ignore[no-untyped-def]
    notifier = Notifier(database, SECRET, service=unique("svc"), retry=FAST)  # no allow-list
    delivery_id = await notifier.send(receiver.url, "e", {})
    await notifier.deliver_due()
    delivery = await notifier.get(delivery_id)
    assert delivery is not None and delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "OCO_NOTIFY_ALLOW_HOSTS" in delivery["last_error"]
    assert "127.0.0.1" not in delivery["last_error"]  # never an internal address in an error (issue #16)
    assert receiver.received == []


async def test_without_a_secret_nothing_is_sent_and_the_reason_is_recorded(
    database: Database, receiver: Receiver, unique
) -> None:  # type: ignore[no-untyped-def]
    failed: list[dict[str, Any]] = []
    notifier = Notifier(database, None, service=unique("svc"), addresses=LOOPBACK, on_failed=failed.append)
    delivery_id = await notifier.send(receiver.url, "e", {"x": 1})
    assert await notifier.deliver_due() == 0
    delivery = await notifier.get(delivery_id)
    assert delivery is not None and delivery["status"] == "failed"
    assert "OCO_NOTIFY_SECRET" in delivery["last_error"] and len(failed) == 1
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/",
        "http://localhost/",
        "http://192.168.0.10/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "ftp://example.com/",
    ],
)
async def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        await AddressPolicy().check(url)


async def test_allow_list_takes_names_addresses_and_networks() -> None:
    await AddressPolicy.parse("10.0.0.0/8").check("http://10.1.2.3/x")
    await AddressPolicy.parse("localhost").check("http://localhost:9/x")
    await AddressPolicy.parse("::1").check("http://[::1]:8080/")
    with pytest.raises(Refused):
        await AddressPolicy.parse("10.0.0.0/8").check("http://192.168.0.1/")
    await AddressPolicy().check("http://93.184.216.34/")  # a public address needs no allow-list entry


async def test_a_once_key_sends_once(database: Database, receiver: Receiver, unique) -> None:  # type: ignore[no-untyped-def]
    notifier = Notifier(database, SECRET, service=unique("svc"), addresses=LOOPBACK, retry=FAST)
    key = unique("anomaly")
    first = await notifier.send(receiver.url, "anomaly.detected", {"n": 1}, once_key=key)
    second = await notifier.send(receiver.url, "anomaly.detected", {"n": 1}, once_key=key)
    assert first == second
    await notifier.deliver_due()
    assert len(receiver.received) == 1
