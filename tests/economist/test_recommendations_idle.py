"""Idle and orphaned resources on a crafted ledger: each saving is the resource's monthly run rate, computed
here by hand (window cost x 730 / billed hours); a resource showing usage is left alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.economist.test_recommendations_support import (
    days,
    economist_client,
    found,
    line,
    money,
    refresh,
    upload,
)

FIRST = date(2031, 3, 1)
AS_OF = date(2031, 3, 11)  # the window is the 30 days before; the lines cover 10 days = 240 hours


def idle_ledger() -> list[dict]:
    lines = []
    for day in days(FIRST, 10):
        ebs = {"service_category": "Storage", "service": "Amazon Elastic Block Store", "type": "Volume"}
        lines.append(
            line(
                day,
                "vol-idle",
                "1.00",
                description="GB-Mo of gp3 provisioned storage",
                unit="GB-Mo",
                quantity="3.2",
                **ebs,
            )
        )
        lines.append(
            line(
                day,
                "vol-busy",
                "1.00",
                description="GB-Mo of gp3 provisioned storage",
                unit="GB-Mo",
                quantity="3.2",
                **ebs,
            )
        )
        lines.append(
            line(day, "vol-busy", "0.05", sku="EBS:VolumeIOUsage", unit="IOs", quantity="1000", **ebs)
        )
        vpc = {
            "service_category": "Networking",
            "service": "Amazon Virtual Private Cloud",
            "type": "IP Address",
        }
        lines.append(
            line(day, "eip-idle", "0.12", sku="PublicIPv4:IdleAddress", unit="Hrs", quantity="24", **vpc)
        )
        lines.append(
            line(day, "eip-used", "0.12", sku="PublicIPv4:InUseAddress", unit="Hrs", quantity="24", **vpc)
        )
        elb = {"service_category": "Networking", "service": "Elastic Load Balancing", "type": "LoadBalancer"}
        lines.append(line(day, "lb-idle", "0.54", sku="LoadBalancerUsage", unit="Hrs", quantity="24", **elb))
        lines.append(line(day, "lb-busy", "0.54", sku="LoadBalancerUsage", unit="Hrs", quantity="24", **elb))
        lines.append(line(day, "lb-busy", "0.40", sku="LCUUsage", unit="LCU-Hrs", quantity="50", **elb))
        rds = {
            "service_category": "Databases",
            "service": "Amazon Relational Database Service",
            "type": "DBInstance",
        }
        lines.append(
            line(
                day,
                "db-idle",
                "2.00",
                description="db.t3.medium instance hour",
                unit="Hrs",
                quantity="24",
                **rds,
            )
        )
        lines.append(
            line(
                day,
                "db-cpu",
                "2.00",
                description="db.t3.medium instance hour",
                unit="Hrs",
                quantity="24",
                **rds,
            )
        )
        lines.append(
            line(
                day,
                "db-quiet",
                "3.00",
                description="db.t3.large instance hour",
                unit="Hrs",
                quantity="24",
                **rds,
            )
        )
    return lines


async def test_idle_resources_save_their_monthly_run_rate(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("idle-acct")
    await upload(client, idle_ledger(), account, unique("idle"))
    busy_db = {"resource_id": "db-cpu", "metric": "cpu", "p95": "30", "max": "45"}
    quiet_db = {"resource_id": "db-quiet", "metric": "cpu", "p95": "1", "max": "2"}
    for body in (busy_db, quiet_db):
        assert (await client.post("/api/v1/utilization", json=body)).status_code == 201

    result = await refresh(client, AS_OF, account)
    recs = await found(client, account)

    hours = Decimal(240)
    expected = {
        ("unattached_volume", "vol-idle"): Decimal("10.00") * 730 / hours,
        ("idle_ip", "eip-idle"): Decimal("1.20") * 730 / hours,
        ("idle_load_balancer", "lb-idle"): Decimal("5.40") * 730 / hours,
        ("idle_database", "db-idle"): Decimal("20.00") * 730 / hours,
        ("idle_database", "db-quiet"): Decimal("30.00") * 730 / hours,
    }
    assert {k: r["estimated_monthly_saving"] for k, r in recs.items()} == {
        k: money(v) for k, v in expected.items()
    }
    assert result["created"] == 5 and result["closed"] == 0
    assert recs[("idle_database", "db-idle")]["confidence"] == "low"  # nothing but the ledger says it is idle
    assert recs[("idle_database", "db-quiet")]["confidence"] == "high"  # its posted cpu max agrees
    volume = recs[("unattached_volume", "vol-idle")]
    assert volume["evidence"]["window_cost"] == "10.000000"
    assert volume["evidence"]["billed_hours"] == "240"
    assert (
        volume["status"] == "open" and volume["provider"] == "AWS" and volume["billing_account_id"] == account
    )
    assert volume["currency"] == "USD" and volume["region"] == "us-east-1"
