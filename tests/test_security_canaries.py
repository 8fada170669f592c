"""Security review, one test per finding: canary secrets planted where operators put them (provider keys in
the environment of cerebra's route deployments, S3 credentials, kubeconfig tokens and the archive
encryption key of aegis, OCO API keys) never appear in what the services print, answer or export as
metrics, on normal and failing paths; keys are stored only as hashes and compared in constant time; CORS
answers only configured origins; archive members with `..` or absolute names are refused."""

from __future__ import annotations

import ast
import asyncio
import base64
import hashlib
import io
import json
import os
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
import sqlalchemy as sa
import yaml

from aegis.archive.reader import ArchiveIntegrityError, ArchiveReader
from aegis.archive.writer import ArchiveWriter
from oco.app import make_service_app
from oco.auth import hash_key
from tests.aegis.api_env import clusters_file
from tests.aegis.fake_kube import FakeKubeServer
from tests.cerebra.fakes.upstreams import FakeOpenAI
from tests.cerebra.fakes.wire import Reply
from tests.service_process import start_service

REPO = Path(__file__).resolve().parent.parent
HELLO = [{"role": "user", "content": "hi"}]


def canary(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"


def assert_no_canary(places: dict[str, str], canaries: dict[str, str]) -> None:
    """No canary, nor its distinctive middle (a partly masked echo), in any captured text."""
    found = []
    for what, secret in canaries.items():
        middle = secret[len(secret) // 4 : len(secret) // 4 + 12]
        for where, text in places.items():
            if secret in text or middle in text:
                found.append(f"{what} in {where}")
    assert not found, "secrets leaked: " + "; ".join(found)


def _exchange(response: httpx.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{response.status_code}\n{headers}\n{response.text}"


# ------------------------------------------------------------------------------------------- cerebra


async def test_cerebra_never_shows_provider_or_caller_keys(
    tmp_path, database, database_url, redis_url, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    secrets = {
        "provider key": canary("sk-canary-"),
        "refused provider key": canary("sk-refused-"),
        "cerebra key": (await keystore.create(unique("canary"), ["cerebra"])).plaintext,
        "unknown OCO key": canary("oco_"),
    }
    with FakeOpenAI(api_key=secrets["provider key"]) as fake:

        def target(env: str) -> dict:
            return {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "api_base": fake.base_url,
                "api_key_env": env,
                "timeout_s": 5,
            }

        routes = tmp_path / "routes.yaml"
        routes.write_text(
            yaml.safe_dump(
                {
                    "models": {
                        "good": {"deployments": [target("CANARY_PROVIDER_KEY")]},
                        "refused": {"deployments": [target("CANARY_REFUSED_KEY")]},
                    }
                }
            )
        )
        env = {
            "OCO_DATABASE_URL": database_url,
            "OCO_DATA_DIR": str(tmp_path / "data"),
            "OCO_CEREBRA_ROUTES": str(routes),
            "OCO_CEREBRA_RETRIES": "0",
            "CANARY_PROVIDER_KEY": secrets["provider key"],
            "CANARY_REFUSED_KEY": secrets["refused provider key"],
        }
        if redis_url:
            env["REDIS_URL"] = redis_url
        service = start_service("cerebra", tmp_path / "run", env)
        places: dict[str, str] = {}
        prefix = f"canary{uuid.uuid4().hex[:8]}"
        try:
            with httpx.Client(base_url=service.url, timeout=20) as http:

                def chat(name: str, model: str = "good", key: str = secrets["cerebra key"], **body) -> int:  # type: ignore[no-untyped-def]
                    headers = {"Authorization": f"Bearer {key}", "X-Request-ID": f"{prefix}-{name}"}
                    doc = {"model": model, "messages": HELLO, **body}
                    response = http.post("/v1/chat/completions", json=doc, headers=headers)
                    places[f"response {name}"] = _exchange(response)
                    return response.status_code

                assert chat("ok") == 200
                assert chat("stream", stream=True) == 200
                fake.enqueue(
                    Reply(status=500, error_message=f"backend failed for key {secrets['provider key']}")
                )
                assert chat("upstream 500") == 502
                fake.enqueue(
                    Reply(status=400, error_message=f"bad request with key {secrets['provider key']}")
                )
                assert chat("upstream 400") == 400
                fake.enqueue(Reply(status=401, error_message=f"Incorrect API key {secrets['provider key']}"))
                assert chat("upstream 401") == 502
                assert chat("refused key", model="refused") == 502  # the fake's own 401 echoes part of it
                assert chat("unknown caller key", key=secrets["unknown OCO key"]) == 401
                assert chat("validation", messages="not a list") == 400
                fake.enqueue(Reply(stream_error=f"overloaded, key {secrets['provider key']}"))
                assert chat("stream error", stream=True) == 200
                metrics = http.get("/metrics")
                places["metrics"] = metrics.text
        finally:
            service.stop()
        places["cerebra output"] = service.output()
        async with database.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text("SELECT * FROM api_requests WHERE request_id LIKE :p"), {"p": f"{prefix}-%"}
                )
            ).mappings()
            places["request log rows"] = "\n".join(str(dict(r)) for r in rows)
    assert "response upstream 500" in places and places["request log rows"], "nothing was captured"
    # the provider did see the key (it was really used), so its absence elsewhere means something
    assert fake.requests[0].headers["authorization"] == f"Bearer {secrets['provider key']}"
    assert_no_canary(places, secrets)


# --------------------------------------------------------------------------------------------- aegis


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """moto's S3 on a loopback port (it takes any credentials, so the canaries really sign requests)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _bad_kubeconfig(tmp: Path, kube: FakeKubeServer, token: str) -> Path:
    path = tmp / "bad-kubeconfig.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: fake\n  cluster:\n    server: {kube.url}\n"
        f"users:\n- name: bad\n  user:\n    token: {token}\n"
        "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bad\n"
        "current-context: fake\n"
    )
    return path


async def test_aegis_never_shows_cloud_credentials_kube_tokens_or_the_encryption_key(
    tmp_path, database_url, redis_url, keystore, unique, moto_endpoint
) -> None:  # type: ignore[no-untyped-def]
    bucket = f"canary-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).create_bucket(Bucket=bucket)
    with FakeKubeServer(tmp_path) as kube:
        kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        kube.fake.seed(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "shop"},
                "data": {},
            }
        )
        secrets = {
            "S3 access key": "AKIA" + uuid.uuid4().hex[:16].upper(),
            "S3 secret key": canary("canarySecret"),
            "kube token": kube.token,
            "bad kube token": canary("bad-kube-token-"),
            "encryption key": base64.b64encode(os.urandom(32)).decode(),
            "aegis key": (await keystore.create(unique("canary"), ["aegis"])).plaintext,
        }
        clusters = clusters_file(tmp_path, {"good": kube})
        doc = yaml.safe_load(clusters.read_text())
        doc["clusters"]["badauth"] = {
            "kubeconfig": str(_bad_kubeconfig(tmp_path, kube, secrets["bad kube token"])),
            "context": "fake",
        }
        clusters.write_text(yaml.safe_dump(doc))
        env = {
            "OCO_DATABASE_URL": database_url,
            "OCO_DATA_DIR": str(tmp_path / "data"),
            "OCO_AEGIS_CLUSTERS": str(clusters),
            "OCO_AEGIS_WORK_DIR": str(tmp_path / "work"),
            "OCO_AEGIS_LOCAL_ROOTS": str(tmp_path),
            "OCO_AEGIS_SCHEDULER_ENABLED": "false",
            "OCO_AEGIS_CLUSTER_CHECK_TIMEOUT_S": "2",
            "OCO_AEGIS_KUBE_MAX_ATTEMPTS": "1",
            "OCO_AEGIS_S3_ENDPOINT_ALLOW": "127.0.0.1",  # moto on loopback (issue #16 finding 3)
            "OCO_AEGIS_ENCRYPTION_KEY": secrets["encryption key"],
            "AWS_ACCESS_KEY_ID": secrets["S3 access key"],
            "AWS_SECRET_ACCESS_KEY": secrets["S3 secret key"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        if redis_url:
            env["REDIS_URL"] = redis_url
        service = start_service("aegis", tmp_path / "run", env)
        places: dict[str, str] = {}
        try:
            with httpx.Client(
                base_url=service.url, headers={"X-API-Key": secrets["aegis key"]}, timeout=30
            ) as api:

                def call(name: str, method: str, path: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
                    response = api.request(method, path, **kwargs)
                    places[f"response {name}"] = _exchange(response)
                    return response

                s3 = {"type": "s3", "region": "us-east-1", "endpoint_url": moto_endpoint}
                location = unique("s3")
                made = call(
                    "s3 location",
                    "POST",
                    "/api/v1/storage-locations",
                    json={"name": location, "bucket": bucket, **s3},
                )
                assert made.status_code == 201, made.text
                missing = call(
                    "missing bucket",
                    "POST",
                    "/api/v1/storage-locations",
                    json={"name": unique("s3"), "bucket": "nope-" + bucket, **s3},
                )
                assert 400 <= missing.status_code < 500, missing.text
                with_creds = moto_endpoint.replace(
                    "http://", f"http://{secrets['S3 access key']}:{secrets['S3 secret key']}@"
                )
                invalid = call(
                    "credentials in the URL",
                    "POST",
                    "/api/v1/storage-locations",
                    json={"name": unique("s3"), "bucket": bucket, **s3, "endpoint_url": with_creds},
                )
                assert invalid.status_code in (400, 422), invalid.text
                call("location list", "GET", "/api/v1/storage-locations")
                call("clusters", "GET", "/api/v1/clusters")
                started = call(
                    "backup",
                    "POST",
                    "/api/v1/backups",
                    json={"cluster": "good", "storage_location": location},
                )
                assert started.status_code == 202, started.text
                backup_id = started.json()["id"]
                deadline = time.monotonic() + 60
                while (record := call("backup record", "GET", f"/api/v1/backups/{backup_id}").json())[
                    "phase"
                ] in (
                    "New",
                    "InProgress",
                ):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)
                assert record["phase"] == "Completed" and record["encrypted"], record
                refused = call(
                    "bad kube auth",
                    "POST",
                    "/api/v1/backups",
                    json={"cluster": "badauth", "storage_location": location},
                )
                assert 400 <= refused.status_code < 500, refused.text
                places["metrics"] = httpx.get(f"{service.url}/metrics").text
        finally:
            service.stop()
        places["aegis output"] = service.output()
    assert any(r.path.startswith("/api") for r in kube.fake.requests), "the good cluster was never called"
    assert_no_canary(places, secrets)


# ---------------------------------------------------------------------------------------- the kernel


async def test_api_keys_are_stored_only_as_hashes(keystore, database, unique) -> None:  # type: ignore[no-untyped-def]
    created = await keystore.create(unique("hashed"), ["cerebra"])
    async with database.engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT * FROM api_keys"))).mappings().all()
    dump = json.dumps([dict(r) for r in rows], default=str)
    assert created.plaintext not in dump
    assert created.plaintext[12:] not in dump  # not even the part past the stored prefix
    mine = [r for r in rows if r["key_hash"] == hashlib.sha256(created.plaintext.encode()).hexdigest()]
    assert len(mine) == 1 and hash_key(created.plaintext) == mine[0]["key_hash"]


def test_key_hashes_are_compared_in_constant_time() -> None:
    """By inspection of oco/auth.py: the stored hash is compared with hmac.compare_digest and never with
    `==`/`!=` (whose time depends on the first differing byte)."""
    tree = ast.parse((REPO / "oco" / "auth.py").read_text())
    digests = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compare_digest"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "hmac"
    ]
    assert digests, "hmac.compare_digest is not used"
    assert any("key_hash" in ast.unparse(arg) for call in digests for arg in call.args)

    def stored_hash(node: ast.expr) -> bool:  # row["key_hash"], or the digest it is checked against
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            return node.slice.value == "key_hash"
        return isinstance(node, ast.Name) and node.id in ("digest", "key_hash")

    equalities = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
        and any(stored_hash(operand) for operand in (node.left, *node.comparators))
    ]
    assert not equalities, f"key hashes compared with ==: {equalities}"


@pytest.mark.parametrize("configured", ["", "https://console.example.com"])
async def test_cors_answers_only_configured_origins(settings, serve_app, configured) -> None:  # type: ignore[no-untyped-def]
    app = make_service_app(
        "canary", "canary", [], settings=settings.model_copy(update={"cors_allowed_origins": configured})
    )
    client = await serve_app(app)
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}
    stranger = await client.options(
        "/healthz", headers={"Origin": f"https://{uuid.uuid4().hex}.example", **preflight}
    )
    assert "access-control-allow-origin" not in stranger.headers
    simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    if configured:
        allowed = await client.options("/healthz", headers={"Origin": configured, **preflight})
        assert allowed.headers.get("access-control-allow-origin") == configured


# ------------------------------------------------------------------------------------------ archives


def _archive_with(tmp: Path, extra: str) -> Path:
    """A valid unencrypted aegis archive with one more member, named `extra`, appended."""
    good = tmp / "good.tar.gz"
    with ArchiveWriter(good) as writer:
        writer.add_object("configmaps", "", "shop", "c", {"apiVersion": "v1", "kind": "ConfigMap"})
        writer.close({"name": "canary"})
    evil = tmp / "evil.tar.gz"
    with tarfile.open(good, "r:gz") as source, tarfile.open(evil, "w:gz") as out:
        for member in source.getmembers():
            out.addfile(member, source.extractfile(member))
        body = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}'
        info = tarfile.TarInfo(extra)
        info.size = len(body)
        out.addfile(info, io.BytesIO(body))
    return evil


@pytest.mark.parametrize(
    "name",
    [
        "resources/configmaps/namespaces/../x.json",
        "resources/configmaps/namespaces/shop/../../../../etc/passwd.json",
        "/etc/cron.d/evil.json",
        "/resources/configmaps/namespaces/shop/x.json",
    ],
)
def test_archive_members_with_dotdot_or_absolute_names_are_refused(tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    archive = _archive_with(tmp_path, name)
    with pytest.raises(ArchiveIntegrityError, match="absolute path or a '..' segment"):
        list(ArchiveReader(archive).objects())
    with pytest.raises(ArchiveIntegrityError):
        ArchiveReader(archive).contents()


def test_a_plain_archive_still_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The control for the test above: the same archive without the crafted member restores."""
    archive = _archive_with(tmp_path, "resources/configmaps/namespaces/shop/d.json")
    names = sorted(entry.name for entry, _ in ArchiveReader(archive).objects())
    assert names == ["c", "d"]
