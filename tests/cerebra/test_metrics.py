"""Cerebra's call metrics, read from /metrics after calls made with the official openai SDK against the
fake upstream: counts, histogram counts, tokens and cost by model (the cost computed here from the price
table), bounded labels for wildcard aliases and refusals, cooldowns, and several worker processes merging
their values through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cerebra.gateway import metrics as call_metrics
from cerebra.pricing.catalog import lookup
from cerebra.pricing.cost import request_cost
from tests.cerebra.conftest import OPENAI_KEY, deployment, free_port
from tests.cerebra.fakes.wire import Reply

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "hi"}]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of a /metrics page."""
    page = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def value(page: dict, name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


async def test_n_calls_count_time_and_cost_what_the_upstream_reported(
    gateway, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"mini": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    sdk = client(server, cerebra_key)
    before = scrape(server.url)
    plain, streamed = 4, 3
    usage = [(100 + i, 20 + i, 10 * i) for i in range(plain + streamed)]  # prompt, completion, cached
    for prompt, completion, cached in usage:
        fake_openai.enqueue(Reply(text="ok", usage=(prompt, completion), cache_read=cached))
    for _ in range(plain):
        assert sdk.chat.completions.create(model="mini", messages=MESSAGES).choices[0].message.content == "ok"
    for _ in range(streamed):
        chunks = list(
            sdk.chat.completions.create(
                model="mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        assert chunks[-1].usage is not None
    fake_openai.enqueue(Reply(status=500, error_message="boom"), Reply(status=500), Reply(status=500))
    with pytest.raises(openai.APIStatusError):
        sdk.chat.completions.create(model="mini", messages=MESSAGES)
    after = scrape(server.url)

    n = plain + streamed
    labels = {"alias": "mini", "provider": "openai"}
    assert delta(before, after, "oco_cerebra_requests_total", status="200", **labels) == n
    # every deployment failed: no provider answered the call
    assert (
        delta(before, after, "oco_cerebra_requests_total", alias="mini", provider="none", status="502") == 1
    )
    assert delta(before, after, "oco_cerebra_request_duration_seconds_count", **labels) == n
    assert (
        delta(before, after, "oco_cerebra_request_duration_seconds_count", alias="mini", provider="none") == 1
    )
    assert delta(before, after, "oco_cerebra_time_to_first_token_seconds_count", **labels) == streamed
    assert delta(before, after, "oco_cerebra_upstream_duration_seconds_count", provider="openai") == n
    assert delta(before, after, "oco_cerebra_overhead_seconds_count", endpoint="chat/completions") == n + 1
    overhead = delta(before, after, "oco_cerebra_overhead_seconds_sum", endpoint="chat/completions")
    wall = sum(  # the same n + 1 calls' whole durations
        delta(before, after, "oco_cerebra_request_duration_seconds_sum", alias="mini", provider=provider)
        for provider in ("openai", "none")
    )
    assert 0 < overhead < wall

    tokens = {kind: 0 for kind in ("prompt", "completion", "cache_read")}
    prices = lookup("gpt-4o-mini")
    assert prices is not None
    cost = Decimal(0)
    for prompt, completion, cached in usage:
        tokens["prompt"] += prompt
        tokens["completion"] += completion
        tokens["cache_read"] += cached
        cost += request_cost(prices.prices, prompt, completion, cached, 0, 0) or 0
    for kind, expected in tokens.items():
        assert delta(before, after, "oco_cerebra_tokens_total", model="gpt-4o-mini", kind=kind) == expected
    assert delta(before, after, "oco_cerebra_tokens_total", model="gpt-4o-mini", kind="cache_write") == 0
    counted = delta(before, after, "oco_cerebra_cost_usd_total", model="gpt-4o-mini")
    assert cost > 0 and counted == pytest.approx(float(cost), rel=1e-9)


async def test_caller_chosen_names_stay_bounded_labels(
    gateway, fake_openai, cerebra_key, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"openai/*": {"deployments": [deployment(fake_openai, "*")]}})
    gateway_metrics = server.app.state.gateway.metrics
    monkeypatch.setattr(call_metrics, "MODEL_LABEL_LIMIT", len(gateway_metrics._caller_models) + 2)
    sdk = client(server, cerebra_key)
    before = scrape(server.url)
    names = ["ft:gpt-4o-mini:acme:one", "ft:gpt-4o-mini:acme:two", "ft:gpt-4o-mini:acme:three"]
    for name in names:
        fake_openai.enqueue(Reply(text="ok", usage=(10, 5)))
        sdk.chat.completions.create(model=f"openai/{name}", messages=MESSAGES)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-alias-" + "x" * 40, messages=MESSAGES)
    after = scrape(server.url)

    assert (
        delta(before, after, "oco_cerebra_requests_total", alias="openai/*", provider="openai", status="200")
        == 3
    )
    assert (
        delta(before, after, "oco_cerebra_requests_total", alias="unknown", provider="none", status="404")
        == 1
    )
    aliases = {dict(k[1]).get("alias") for k in after if k[0] == "oco_cerebra_requests_total"}
    assert not any(a and a.startswith(("openai/ft", "no-such")) for a in aliases)
    for name in names[:2]:
        assert delta(before, after, "oco_cerebra_tokens_total", model=name, kind="prompt") == 10
    assert value(after, "oco_cerebra_tokens_total", model=names[2], kind="prompt") == 0
    assert delta(before, after, "oco_cerebra_tokens_total", model="other", kind="prompt") == 10


async def test_a_deployment_put_in_cooldown_publishes_until_when(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"flaky": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}},
        oco_cerebra_cooldown_failures=1,
    )
    fake_openai.enqueue(*[Reply(status=503) for _ in range(5)])
    with pytest.raises(openai.APIStatusError):
        client(server, cerebra_key).chat.completions.create(model="flaky", messages=MESSAGES)
    page = scrape(server.url)
    cooling = {
        dict(k[1])["deployment"]: v
        for k, v in page.items()
        if k[0] == "oco_cerebra_deployment_cooldown_until_seconds" and "flaky#0" in dict(k[1])["deployment"]
    }
    assert len(cooling) == 1 and next(iter(cooling.values())) > time.time()


def test_several_workers_merge_their_metrics(tmp_path: Path, fake_openai, database_url, keystore_key) -> None:  # type: ignore[no-untyped-def]
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        yaml.safe_dump({"models": {"mini": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}})
    )
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale")  # a previous run's file: removed at start
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "OCO_DATABASE_URL": database_url,
        "OCO_DATA_DIR": str(tmp_path),
        "OCO_CEREBRA_ROUTES": str(routes),
        "TEST_OPENAI_KEY": OPENAI_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "OCO_WORKERS": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cerebra", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert not (multiproc / "counter_999999.db").exists()

        def call(_: int) -> None:
            with httpx.Client(timeout=10) as fresh:  # a new connection each: the workers share the socket
                sdk = openai.OpenAI(
                    base_url=url + "/v1", api_key=keystore_key, max_retries=0, http_client=fresh
                )
                sdk.chat.completions.create(model="mini", messages=MESSAGES)

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):  # until both workers have served calls
                list(pool.map(call, range(16)))
                sent += 16
                if len(per_worker_counts(multiproc)) >= 2:
                    break
        assert len(per_worker_counts(multiproc)) >= 2, "the calls all reached one worker"
        for _ in range(6):  # whichever worker answers /metrics, it reports every worker's calls
            page = scrape(url)
            assert (
                value(page, "oco_cerebra_requests_total", alias="mini", provider="openai", status="200")
                == sent
            )
            assert value(page, "oco_cerebra_tokens_total", model="gpt-4o-mini", kind="prompt") == 11 * sent
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def per_worker_counts(folder: Path) -> dict[str, float]:
    """pid -> its oco_cerebra_requests_total, read from the workers' own files."""
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        total = sum(
            v
            for key, v, *_ in MmapedDict.read_all_values_from_file(str(path))
            if '"oco_cerebra_requests_total"' in key
        )
        if total:
            counts[path.stem.split("_")[1]] = total
    return counts


@pytest.fixture
async def keystore_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("workers"), ["cerebra"])).plaintext
