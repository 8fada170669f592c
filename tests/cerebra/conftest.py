"""Cerebra test fixtures: the gateway served by uvicorn on a loopback port (so the official SDKs talk
real HTTP to it), fake upstreams, and a route file pointing at them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
import yaml

from cerebra.app import create_app
from cerebra.settings import CerebraSettings
from tests.cerebra.fakes.upstreams import FakeAnthropic, FakeGemini, FakeOpenAI

OPENAI_KEY = "sk-test-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-test-0123456789"
GEMINI_KEY = "AIzaTestGeminiKey0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedApp:
    """A uvicorn server in a thread; `url` is its base URL."""

    def __init__(self, app, port: int) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("cerebra did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def fake_openai(monkeypatch) -> Iterator[FakeOpenAI]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def fake_anthropic(monkeypatch) -> Iterator[FakeAnthropic]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture
def fake_gemini(monkeypatch) -> Iterator[FakeGemini]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEST_GEMINI_KEY", GEMINI_KEY)
    with FakeGemini(api_key=GEMINI_KEY) as fake:
        yield fake


def deployment(fake, model: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    """A route-file deployment pointing at a fake upstream."""
    env = {"openai": "TEST_OPENAI_KEY", "anthropic": "TEST_ANTHROPIC_KEY", "gemini": "TEST_GEMINI_KEY"}
    base = fake.base_url if fake.provider == "openai" else fake.url
    return {
        "provider": fake.provider,
        "model": model,
        "api_base": base,
        "api_key_env": env[fake.provider],
        "timeout_s": 5,
        **extra,
    }


@pytest.fixture
def gateway(settings, tmp_path: Path, keystore) -> Iterator[Callable]:  # type: ignore[no-untyped-def]
    """`gateway(models_dict, **settings)` serves cerebra with that route table; returns (server, key)."""
    servers: list[ServedApp] = []

    def start(models: dict, providers: dict | None = None, **overrides):  # type: ignore[no-untyped-def]
        routes = tmp_path / f"routes-{len(servers)}.yaml"
        routes.write_text(yaml.safe_dump({"models": models, "providers": providers or {}}))
        values = {
            **settings.model_dump(),
            "oco_cerebra_routes": routes,
            "oco_cerebra_retry_base_s": 0.01,
            **overrides,
        }
        cerebra_settings = CerebraSettings(_env_file=None, **values)
        served = ServedApp(create_app(cerebra_settings), free_port()).start()
        servers.append(served)
        return served

    yield start
    for served in servers:
        served.stop()


@pytest.fixture
def default_gateway(settings, monkeypatch) -> Iterator[Callable]:  # type: ignore[no-untyped-def]
    """`default_gateway(**settings)` serves cerebra with no route file (the built-in default table) and no
    real provider key in the environment unless a test sets one."""
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OCO_CEREBRA_ROUTES"):
        monkeypatch.delenv(variable, raising=False)
    servers: list[ServedApp] = []

    def start(**overrides):  # type: ignore[no-untyped-def]
        values = {**settings.model_dump(), "oco_cerebra_routes": None, **overrides}
        served = ServedApp(create_app(CerebraSettings(_env_file=None, **values)), free_port()).start()
        servers.append(served)
        return served

    yield start
    for served in servers:
        served.stop()


@pytest.fixture
async def cerebra_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("cerebra"), ["cerebra"])).plaintext
