"""Provider keys through the settings: a `.env` file supplies `api_key_env` variables and the default
table's real-provider aliases; an unset key variable is warned about at load and never called upstream."""

from __future__ import annotations

import logging
from pathlib import Path

import openai
import pytest
import yaml

from cerebra.app import create_app
from cerebra.routing.defaults import default_route_file
from cerebra.routing.table import RouteTableSource
from cerebra.settings import CerebraSettings
from tests.cerebra.conftest import OPENAI_KEY, ServedApp, deployment, free_port

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def in_tmp_cwd(tmp_path: Path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """A working directory of its own (where `.env` is read from), without real provider keys set."""
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DOTENV_TEST_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def serve(settings, **values) -> ServedApp:  # type: ignore[no-untyped-def]
    """Cerebra with settings read the normal way (environment + ./.env), plus `values`."""
    cerebra_settings = CerebraSettings(
        **{**settings.model_dump(), "oco_cerebra_retry_base_s": 0.01, **values}
    )
    return ServedApp(create_app(cerebra_settings), free_port()).start()


async def test_dotenv_key_reaches_the_upstream(in_tmp_cwd, settings, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    (in_tmp_cwd / ".env").write_text(f"DOTENV_TEST_KEY={OPENAI_KEY}\n")
    spec = {**deployment(fake_openai, "gpt-4o-mini"), "api_key_env": "DOTENV_TEST_KEY"}
    routes = in_tmp_cwd / "routes.yaml"
    routes.write_text(yaml.safe_dump({"models": {"chat": {"deployments": [spec]}}}))
    server = serve(settings, oco_cerebra_routes=routes)
    try:
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
        sdk.chat.completions.create(model="chat", messages=HELLO)
    finally:
        server.stop()
    assert fake_openai.last.headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_environment_wins_over_dotenv(in_tmp_cwd, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (in_tmp_cwd / ".env").write_text("DOTENV_TEST_KEY=from-file\nOPENAI_API_KEY=sk-file-0123456789\n")
    monkeypatch.setenv("DOTENV_TEST_KEY", "from-env")
    env = CerebraSettings().provider_env()
    assert env["DOTENV_TEST_KEY"] == "from-env" and env["OPENAI_API_KEY"] == "sk-file-0123456789"
    assert "OPENAI_API_KEY" not in CerebraSettings(_env_file=None).provider_env()  # no file, no file keys


def test_settings_load_without_any_provider_key(in_tmp_cwd) -> None:  # type: ignore[no-untyped-def]
    settings = CerebraSettings()
    source = RouteTableSource(
        settings.oco_cerebra_routes, env=settings.provider_env, default=default_route_file
    )
    assert list(source.current().routes) == ["demo"]
    assert source.origin == "built-in default"


def test_default_table_adds_real_aliases_for_keys_in_dotenv(in_tmp_cwd, caplog) -> None:  # type: ignore[no-untyped-def]
    (in_tmp_cwd / ".env").write_text(
        "OPENAI_API_KEY=sk-dotenv-openai-0123456789\n"
        "ANTHROPIC_API_KEY=sk-ant-dotenv-0123456789\n"
        "GEMINI_API_KEY=AIzaDotenvGemini0123456789abcdef\n"
    )
    settings = CerebraSettings()
    with caplog.at_level(logging.WARNING, logger="cerebra.routing"):
        table = RouteTableSource(None, env=settings.provider_env, default=default_route_file).current()
    assert list(table.routes) == [
        "demo",
        "gpt-4o-mini",
        "text-embedding-3-small",
        "claude-sonnet",
        "gemini-flash",
    ]
    targets = {alias: route.deployments[0].target for alias, route in table.routes.items()}
    assert targets["gpt-4o-mini"].provider == "openai" and targets["gpt-4o-mini"].model == "gpt-4o-mini"
    assert targets["gpt-4o-mini"].api_key == "sk-dotenv-openai-0123456789"
    assert targets["claude-sonnet"].provider == "anthropic"
    assert targets["claude-sonnet"].api_key == "sk-ant-dotenv-0123456789"
    assert targets["gemini-flash"].provider == "gemini"
    assert targets["gemini-flash"].api_key == "AIzaDotenvGemini0123456789abcdef"
    assert targets["demo"].provider == "mock" and targets["demo"].api_key is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # every key is set


async def test_unset_key_warns_once_and_fails_502_without_an_upstream_call(
    gateway, fake_openai, cerebra_key, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NEVER_SET_TEST_KEY", raising=False)
    spec = {**deployment(fake_openai, "gpt-4o-mini"), "api_key_env": "NEVER_SET_TEST_KEY"}
    with caplog.at_level(logging.WARNING, logger="cerebra.routing"):
        server = gateway({"keyless": {"deployments": [spec]}})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'keyless'" in warnings[0] and "NEVER_SET_TEST_KEY" in warnings[0]
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model="keyless", messages=HELLO)
    assert failed.value.status_code == 502
    assert "NEVER_SET_TEST_KEY is not set" in failed.value.message
    attempts = failed.value.body["attempts"]
    assert attempts[0]["outcome"] == "missing_key" and "NEVER_SET_TEST_KEY" in attempts[0]["reason"]
    with pytest.raises(openai.APIStatusError):
        sdk.embeddings.create(model="keyless", input="x")
    assert fake_openai.count == 0  # no unauthenticated call reached the provider


async def test_unset_key_falls_back_to_the_next_deployment(
    gateway, fake_openai, cerebra_key, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NEVER_SET_TEST_KEY", raising=False)
    keyless = {**deployment(fake_openai, "gpt-4o"), "api_key_env": "NEVER_SET_TEST_KEY"}
    server = gateway(
        {"chat": {"deployments": [keyless, {**deployment(fake_openai, "gpt-4o-mini"), "priority": 1}]}}
    )
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    completion = sdk.chat.completions.create(model="chat", messages=HELLO)
    assert completion.choices[0].message.content
    assert fake_openai.count == 1 and fake_openai.last.json["model"] == "gpt-4o-mini"


async def test_empty_api_key_env_means_a_keyless_upstream(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    fake_openai.require_auth = False
    server = gateway({"local": {"deployments": [{**deployment(fake_openai, "llama3"), "api_key_env": ""}]}})
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    sdk.chat.completions.create(model="local", messages=HELLO)
    assert "authorization" not in fake_openai.last.headers


async def test_start_up_line_says_what_cerebra_serves(default_gateway, gateway, fake_openai, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="cerebra"):
        default_gateway()
        gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    lines = [r for r in caplog.records if r.name == "cerebra" and "cerebra serves /v1" in r.getMessage()]
    assert len(lines) == 2
    assert "route table built-in default; aliases: demo" in lines[0].getMessage()
    assert lines[0].fields["route_table"] == "built-in default" and lines[0].fields["aliases"] == ["demo"]
    assert lines[1].fields["route_table"].endswith(".yaml") and lines[1].fields["aliases"] == ["chat"]


async def test_native_call_with_an_unset_provider_key_is_a_502_without_upstream_call(
    gateway, fake_openai, cerebra_key, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NEVER_SET_TEST_KEY", raising=False)
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}},
        providers={"openai": {"api_base": fake_openai.base_url, "api_key_env": "NEVER_SET_TEST_KEY"}},
    )
    native = openai.OpenAI(base_url=server.url + "/v1/openai", api_key=cerebra_key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        native.chat.completions.create(model="gpt-4.1", messages=HELLO)
    assert failed.value.status_code == 502 and "NEVER_SET_TEST_KEY is not set" in failed.value.message
    assert fake_openai.count == 0
