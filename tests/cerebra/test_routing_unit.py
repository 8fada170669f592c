"""Route table validation and reload, strategy ordering, pricing of a request."""

from __future__ import annotations

import os
import random
import time
from decimal import Decimal
from pathlib import Path

import pytest

from cerebra.pricing.catalog import Prices
from cerebra.pricing.cost import request_cost
from cerebra.routing.strategies import needs_of, order
from cerebra.routing.table import RouteTable, RouteTableError, RouteTableSource

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "cerebra" / "routes.example.yaml"


def table(models: dict) -> RouteTable:
    return RouteTable.from_dict({"models": models})


def test_example_route_file_loads() -> None:
    loaded = RouteTable.load(EXAMPLE)
    assert loaded.routes["chat-default"].fallbacks == ("chat-cheap",)
    azure = loaded.routes["azure-gpt4o"].deployments[0]
    assert azure.target.azure and azure.input_price == Decimal("2.50")


@pytest.mark.parametrize(
    ("models", "where"),
    [
        ({"a": {"deployments": [{"provider": "mystery", "model": "m"}]}}, "models.a.deployments.0.provider"),
        ({"a": {"deployments": []}}, "models.a.deployments"),
        (
            {"a": {"strategy": "fastest", "deployments": [{"provider": "openai", "model": "m"}]}},
            "models.a.strategy",
        ),
        (
            {"a": {"fallbacks": ["b"], "deployments": [{"provider": "openai", "model": "m"}]}},
            "models.a.fallbacks",
        ),
        ({"a": {"deployments": [{"provider": "openai", "model": "m", "timeout_s": 0}]}}, "timeout_s"),
    ],
)
def test_invalid_tables_name_the_field(models: dict, where: str) -> None:
    with pytest.raises(RouteTableError, match=where.replace(".", r"\.")):
        table(models)


def test_provider_key_comes_from_the_environment_and_stays_hidden(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MY_SECRET_KEY", "sk-very-secret-value")
    loaded = table(
        {"a": {"deployments": [{"provider": "openai", "model": "gpt-4o", "api_key_env": "MY_SECRET_KEY"}]}}
    )
    target = loaded.routes["a"].deployments[0].target
    assert target.api_key == "sk-very-secret-value"
    assert "sk-very-secret-value" not in repr(loaded.routes["a"])


def test_reload_on_change_keeps_old_table_on_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("models:\n  a:\n    deployments:\n      - {provider: openai, model: gpt-4o}\n")
    source = RouteTableSource(path, check_interval_s=0)
    assert list(source.current().routes) == ["a"]
    path.write_text("models:\n  b:\n    deployments:\n      - {provider: gemini, model: gemini-2.0-flash}\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert list(source.current().routes) == ["b"]
    path.write_text("models: [broken")
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert list(source.current().routes) == ["b"]  # a broken edit keeps serving the last good table
    with pytest.raises(RouteTableError):
        source.reload()
    assert list(source.table.routes) == ["b"]


def test_strategies() -> None:
    deployments = (
        table(
            {
                "a": {
                    "deployments": [
                        {"provider": "openai", "model": "gpt-4o", "priority": 2, "weight": 1},
                        {"provider": "openai", "model": "gpt-4o-mini", "priority": 1, "weight": 9},
                        {
                            "provider": "anthropic",
                            "model": "claude-3-5-sonnet-latest",
                            "priority": 3,
                            "weight": 0.0001,
                        },
                    ]
                }
            }
        )
        .routes["a"]
        .deployments
    )
    names = lambda ds: [d.model for d in ds]  # noqa: E731
    assert names(order("priority", deployments, body={}, latency_ms={})) == [
        "gpt-4o-mini",
        "gpt-4o",
        "claude-3-5-sonnet-latest",
    ]
    assert names(order("lowest-cost", deployments, body={}, latency_ms={}))[0] == "gpt-4o-mini"
    latency = {deployments[0].id: 50.0, deployments[1].id: 500.0, deployments[2].id: 20.0}
    assert names(order("least-latency", deployments, body={}, latency_ms=latency)) == [
        "claude-3-5-sonnet-latest",
        "gpt-4o",
        "gpt-4o-mini",
    ]
    rng = random.Random(7)
    firsts = [order("weighted", deployments, body={}, latency_ms={}, rng=rng)[0].model for _ in range(2000)]
    share = firsts.count("gpt-4o-mini") / len(firsts)
    assert 0.85 < share < 0.95  # weight 9 of 10


def test_needs_estimate() -> None:
    needs = needs_of(
        {
            "messages": [{"role": "user", "content": "x" * 400}],
            "max_tokens": 100,
            "response_format": {"type": "json_object"},
        }
    )
    assert needs.tokens == 200 and needs.json_mode and not needs.tools


def test_request_cost_is_decimal_and_uses_cached_rate() -> None:
    prices = Prices(Decimal("2.50"), Decimal("10.00"), Decimal("1.25"))
    cost = request_cost(prices, 1_000_000, 500_000, 400_000)
    # 600k * 2.50 + 400k * 1.25 + 500k * 10 per 1M = 1.5 + 0.5 + 5.0
    assert cost == Decimal("7.000000")
    assert request_cost(None, 10, 10) is None
