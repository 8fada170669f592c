"""deploy/docker/Dockerfile: the lint rules (pinned bases, non-root final user, no secret in ENV/ARG, a
HEALTHCHECK on /healthz and EXPOSE per service, the volume) and each service's CMD, run as UID 1001 with
no capabilities and only the declared volume writable, answering /healthz."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.deploy import dockerfile, services

PORTS = {"cerebra": 8080, "economist": 8081, "aegis": 8082}
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ENCRYPTION_KEY|CREDENTIAL", re.IGNORECASE)
PINNED = re.compile(r"^[\w./-]+:\d+(\.\d+)+[\w.-]*(@sha256:[0-9a-f]{64})?$|^[\w./-]+@sha256:[0-9a-f]{64}$")


def test_base_images_are_pinned_to_a_version() -> None:
    bases = dockerfile.external_bases()
    assert bases
    for base in bases:
        assert PINNED.match(base), f"{base}: pin a version tag (never latest or a bare name)"
    assert all("slim" in base for base in bases), "slim Python base"


def test_the_pin_rule_refuses_floating_tags() -> None:
    for floating in ("python", "python:latest", "python:3-slim", "python:slim"):
        assert not PINNED.match(floating)


@pytest.mark.parametrize("target", [*PORTS, "migrate"])
def test_every_target_ends_as_uid_1001_with_the_volume_as_its_only_writable_path(target: str) -> None:
    assert dockerfile.final_user(target) in ("1001", "1001:1001")
    assert dockerfile.stages()[target].instructions[-1].keyword == "CMD"
    assert dockerfile.volumes(target) == ["/var/lib/oco"]
    env = dockerfile.env(target)
    for name in ("HOME", "TMPDIR", "OCO_DATA_DIR"):
        assert env[name].startswith("/var/lib/oco"), name
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "nothing written beside the code"


def test_no_secret_in_env_or_arg() -> None:
    for target in [*PORTS, "migrate"]:
        names = set(dockerfile.env(target)) | set(dockerfile.args(target))
        assert not [n for n in names if SECRET.search(n)], target
    assert not re.search(r"oco_[A-Za-z0-9_-]{20,}", dockerfile.DOCKERFILE.read_text()), (
        "an API key in the file"
    )


@pytest.mark.parametrize("target", list(PORTS))
def test_services_expose_their_port_and_check_healthz(target: str) -> None:
    port = PORTS[target]
    assert dockerfile.exposed(target) == [port]
    check = dockerfile.healthcheck(target)
    assert check is not None and check != "NONE"
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert dockerfile.env(target)["OCO_HOST"] == "0.0.0.0"
    assert dockerfile.command(target) == ["python", "-m", target]


def test_migrate_is_a_one_shot_without_health_check() -> None:
    assert dockerfile.healthcheck("migrate") == "NONE"
    assert not dockerfile.exposed("migrate")


def test_dependencies_sit_in_a_layer_before_the_code() -> None:
    build = dockerfile.stages()["build"].instructions
    copies = [i.args for i in build if i.keyword == "COPY"]
    first_code = next(n for n, args in enumerate(copies) if args.startswith("oco "))
    assert copies[0].startswith("pyproject.toml") and first_code > 0
    runs = [i for i in build if i.keyword == "RUN"]
    assert any("pip install ." in r.args and "uninstall" in r.args for r in runs)


def _require_root() -> None:
    if not services.is_root():
        pytest.skip("running as UID 1001 needs root (setpriv); tests run as root here and in CI")


@pytest.mark.parametrize("name", services.SERVICES)
def test_the_image_command_answers_healthz_as_uid_1001_with_only_the_volume_writable(
    running_services: dict[str, services.Running], name: str
) -> None:
    _require_root()
    running = running_services[name]
    if not running.read_only_root:
        pytest.skip("no mount namespace here: ran as UID 1001 without a read-only root")
    response = httpx.get(f"{running.url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": name}
    status = Path(f"/proc/{running.process.pid}/status").read_text()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.MULTILINE)
    assert uids and uids.groups() == ("1001", "1001")
    assert re.search(r"^CapEff:\s+0+$", status, re.MULTILINE), "no capabilities"
    written = {p.name for p in running.volume.iterdir()}
    assert "oco.db" in written, "the embedded database lives in the volume"
    assert {p.stat().st_uid for p in running.volume.iterdir()} == {1001}


def test_the_sandbox_refuses_writes_outside_the_volume() -> None:
    _require_root()
    if not services.can_make_mount_namespace():
        pytest.skip("no mount namespace here")
    volume = services.make_volume()
    try:
        probe = "import sys; open(sys.argv[1] + '/inside', 'w').write('x'); open('/tmp/oco-outside', 'w')"
        result = subprocess.run(
            services.unprivileged([sys.executable, "-c", probe, str(volume)], volume, read_only_root=True),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0 and "Read-only file system" in result.stderr, result.stderr
        assert (volume / "inside").read_text() == "x"
    finally:
        shutil.rmtree(volume.parent, ignore_errors=True)


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    rules = [
        line.strip() for line in (dockerfile.ROOT / ".dockerignore").read_text().splitlines() if line.strip()
    ]
    rules = [r for r in rules if not r.startswith("#")]
    assert rules[0] == "*", "ignore everything, then allow what the build copies (no .env, no data/)"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = {
        source
        for i in dockerfile.stages()["build"].instructions
        if i.keyword == "COPY" and not i.args.startswith("--from")
        for source in i.args.split()[:-1]
    }
    assert copied == allowed
