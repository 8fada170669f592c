"""docker-compose.yml: valid against the Compose Specification's JSON schema (vendored beside this file),
and the project's rules: no default secret (the two passwords are `${VAR:?}`), a health check on every
long-running service, dependencies that wait for health or completion, OCO images built from
deploy/docker/Dockerfile targets that end as USER 1001, and .env.example listing every variable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from tests.deploy import dockerfile
from tests.deploy.compose import ROOT, MissingVariable, interpolate, load, references

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
REQUIRED_SECRETS = {"POSTGRES_PASSWORD", "GF_ADMIN_PASSWORD"}
FILLED = {"POSTGRES_PASSWORD": "pg-test-password", "GF_ADMIN_PASSWORD": "gf-test-password"}
OCO = ("cerebra", "economist", "aegis")


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    document = load()
    jsonschema.validate(document, SCHEMA)
    jsonschema.validate(interpolate(document, FILLED), SCHEMA)


def test_the_schema_check_catches_a_wrong_file() -> None:
    broken = load()
    broken["services"]["redis"]["restarts"] = "always"  # a misspelt key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_services_and_ports() -> None:
    services = interpolate(load(), FILLED)["services"]
    assert set(services) == {"timescaledb", "redis", "migrate", *OCO, "prometheus", "grafana"}
    published = {name: [p.split(":")[-1] for p in s.get("ports", [])] for name, s in services.items()}
    assert published["cerebra"] == ["8080"]
    assert published["economist"] == ["8081"]
    assert published["aegis"] == ["8082"]
    assert published["grafana"] == ["3000"]
    assert published["prometheus"] == ["9090"]
    assert not published.get("timescaledb") and not published.get("redis"), "state stays on the inside"
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert services["timescaledb"]["image"].endswith("-pg16")
    assert services["redis"]["image"].startswith("redis:7.")
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == "yes"


def test_no_secret_has_a_default_and_the_passwords_are_required() -> None:
    document = load()
    refs = references(document)
    for name, op, arg in refs:
        if SECRET.search(name):
            if name in REQUIRED_SECRETS:
                assert op == ":?", f"{name} must be ${{{name}:?...}}"
            else:
                assert op in (":?", ":-", None) and not (op == ":-" and arg), f"{name} has a default"
    assert {name for name, _, _ in refs} >= REQUIRED_SECRETS
    for service in document["services"].values():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if SECRET.search(key):
                assert isinstance(value, str) and value.startswith("${"), f"{key} is written in the file"


@pytest.mark.parametrize("missing", sorted(REQUIRED_SECRETS))
def test_the_stack_refuses_to_start_without_a_password(missing: str) -> None:
    env = {k: v for k, v in FILLED.items() if k != missing}
    with pytest.raises(MissingVariable, match=missing):
        interpolate(load(), env)
    with pytest.raises(MissingVariable, match=missing):
        interpolate(load(), {**env, missing: ""})


def test_every_long_running_service_has_a_health_check_and_dependencies_wait() -> None:
    services = load()["services"]
    one_shots = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shots == {"migrate"}
    for name, service in services.items():
        if name in one_shots:
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and not service["healthcheck"].get("disable"), name
        assert service.get("restart") == "unless-stopped", name
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in one_shots else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {dependency}"
    for name in OCO:
        assert set(services[name]["depends_on"]) == {"migrate", "timescaledb", "redis"}
        health = " ".join(services[name]["healthcheck"]["test"])
        assert "/healthz" in health and str(dockerfile.exposed(name)[0]) in health


def test_oco_images_are_built_from_the_dockerfile_and_end_as_uid_1001() -> None:
    services = load()["services"]
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) == {"migrate", *OCO}
    targets = dockerfile.stages()
    for name, service in built.items():
        build = service["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == dockerfile.DOCKERFILE
        assert build["target"] == name and name in targets
        assert dockerfile.final_user(name) in ("1001", "1001:1001")
        assert service["user"] == "1001:1001"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        mounts = [v.split(":") for v in service["volumes"]]
        assert [target for _, target in mounts] == dockerfile.volumes(name), "only the declared volume"


def test_migrate_upgrades_the_schema_and_writes_the_first_admin_key_into_its_volume() -> None:
    migrate = load()["services"]["migrate"]
    script = " ".join(dockerfile.command("migrate"))
    assert "oco db upgrade" in script and "oco keys bootstrap --out /var/lib/oco/admin.key" in script
    assert script.index("db upgrade") < script.index("keys bootstrap")
    assert migrate["volumes"] == ["oco-keys:/var/lib/oco"]
    assert migrate["environment"]["POSTGRES_HOST"] == "timescaledb"


def test_env_example_lists_every_variable_with_empty_secrets() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = {m.group(1): m.group(2) for m in re.finditer(r"^#? ?(\w+)=(\S*)", text, re.MULTILINE)}
    for name, _, _ in references(load()):
        assert name in listed, f".env.example does not list {name}"
    for name in REQUIRED_SECRETS:
        assert re.search(rf"^{name}=$", text, re.MULTILINE), f"{name} must be listed uncommented and empty"
    for name, value in listed.items():
        if SECRET.search(name) and not name.startswith("OCO_DATABASE"):
            assert value == "", f".env.example gives {name} a value"
