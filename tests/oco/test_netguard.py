"""Hardening (issue #16, finding 3): oco/netguard.py refuses every non-public address a URL's host resolves
to (loopback, private, link-local and the cloud metadata addresses, unspecified, multicast) unless an
operator allow-list names it; every resolved address counts; refusals echo neither the URL, its
credentials nor the addresses; and a webhook is checked again at delivery, so a DNS change after it was
accepted cannot send it to an internal address."""

from __future__ import annotations

import socket

import httpx
import pytest

from oco.db import Database
from oco.netguard import AddressPolicy, Refused, is_public
from oco.notify import Notifier, RetryPolicy

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",  # AWS/GCP/Azure metadata (IPv4 link-local)
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
    "http://127.0.0.1:9000/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[fe80::1]/",
    "http://localhost:8080/",  # a name: resolved, then judged
    "https://user:s3cret-canary@127.0.0.1/",  # credentials are never echoed
]


@pytest.mark.parametrize("url", REFUSED)
async def test_non_public_addresses_are_refused_by_default(url: str) -> None:
    for check in (AddressPolicy().check, lambda u: _sync(AddressPolicy().check_sync, u)):
        with pytest.raises(Refused) as refused:
            await check(url)
        message = str(refused.value)
        assert "OCO_NOTIFY_ALLOW_HOSTS" in message  # says how an operator allows it
        host = url.split("//")[1].split("/")[0].split("@")[-1]
        for leaked in (url, host.strip("[]").rsplit(":", 1)[0], "s3cret-canary", "meta-data"):
            assert leaked not in message, (url, message)


async def _sync(check, url: str) -> None:  # type: ignore[no-untyped-def]
    check(url)


async def test_the_allow_list_names_hosts_addresses_and_networks() -> None:
    await AddressPolicy.parse("127.0.0.1").check("http://127.0.0.1:9000/")
    await AddressPolicy.parse("10.0.0.0/8").check("http://10.9.9.9/")
    await AddressPolicy.parse("fd00:ec2::/32").check("http://[fd00:ec2::254]/")
    await AddressPolicy.parse("localhost").check("http://localhost:1/")  # by name: not even resolved
    AddressPolicy.parse("", "127.0.0.0/8").check_sync("http://[::ffff:127.0.0.1]/")
    with pytest.raises(Refused):
        await AddressPolicy.parse("10.0.0.0/8").check("http://169.254.169.254/")  # only what it names
    await AddressPolicy().check("http://93.184.216.34/")  # public: no entry needed
    assert is_public(__import__("ipaddress").ip_address("8.8.8.8"))


async def test_every_resolved_address_is_checked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A name with one public and one internal address is refused (a resolver may pick either)."""

    def resolve(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(Refused):
        await AddressPolicy().check("https://mixed.example/")
    with pytest.raises(Refused):
        AddressPolicy().check_sync("https://mixed.example/")


async def test_unresolvable_and_malformed_urls() -> None:
    for url in ("ftp://example.com/", "http:///nohost", "http://[::1/", "file:///etc/passwd"):
        with pytest.raises(Refused):
            await AddressPolicy().check(url)
    with pytest.raises(Refused, match="cannot be resolved"):
        await AddressPolicy().check("http://no-such-host.invalid/")
    await AddressPolicy().check("http://no-such-host.invalid/", unresolvable_ok=True)


async def test_a_webhook_is_checked_again_at_delivery(database: Database, unique, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Accepted while its name resolved to a public address; by delivery time it resolves to the metadata
    address: nothing is sent and the delivery fails with the reason."""
    answer = {"address": "93.184.216.34"}

    def resolve(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["address"], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = "https://hooks.rebind.example/hook"
    policy = AddressPolicy()
    await policy.check(url)  # what creation checks
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    notifier = Notifier(
        database, "secret-" + "x" * 20, service=unique("svc"), addresses=policy,
        retry=RetryPolicy(max_attempts=2, backoff_s=0.01, backoff_max_s=0.01), transport=transport,
    )  # fmt: skip
    answer["address"] = "169.254.169.254"  # DNS changed
    delivery_id = await notifier.send(url, "test.event", {"n": 1})
    await notifier.deliver_due()
    delivery = await notifier.get(delivery_id)
    assert delivery is not None and delivery["status"] == "failed" and sent == []
    assert "non-public" in delivery["last_error"] and "169.254" not in delivery["last_error"]
    await notifier.stop()
