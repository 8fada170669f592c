"""Fixtures that run real etcd + kube-apiserver instances (scripts/kube-testenv.sh) for k8s_e2e tests.

`kube_env` is the source cluster, `kube_env_target` a second, independent one (e.g. a restore target).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTENV_SCRIPT = REPO_ROOT / "scripts" / "kube-testenv.sh"
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 60


@dataclass(frozen=True)
class KubeEnv:
    """One running API server: where it listens and how to authenticate to it."""

    dir: Path
    kubeconfig: Path
    server: str
    token: str
    ca_file: Path

    def api_client(self) -> ApiClient:
        """A fresh official-client ApiClient for this server (caller closes it)."""
        from kubernetes import config  # imported lazily: a heavy module

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def kube_cache_dir() -> Path:
    return Path(os.environ.get("OCO_KUBE_CACHE", "/var/cache/oco-kube"))


def apiserver_binary() -> Path:
    return kube_cache_dir() / "bin" / "kube-apiserver"


def _require_k8s() -> bool:
    return os.environ.get("OCO_REQUIRE_K8S", "").strip().lower() in {"1", "true", "yes"}


def _ensure_binary() -> None:
    """Skip (or fail under OCO_REQUIRE_K8S=1) when the kube-apiserver cache has not been built."""
    binary = apiserver_binary()
    if binary.is_file() and os.access(binary, os.X_OK):
        return
    reason = f"kube-apiserver not built at {binary}; run `scripts/kube-testenv.sh build` (about 5 min, once)"
    if _require_k8s():
        pytest.fail(f"OCO_REQUIRE_K8S is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def start_kube_env(state_dir: Path) -> KubeEnv:
    """Start etcd + kube-apiserver with state in `state_dir`; fails the test on any start error."""
    _ensure_binary()
    proc = subprocess.run(
        ["bash", str(TESTENV_SCRIPT), "start", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        stop_kube_env(state_dir)
        pytest.fail(
            f"kube-testenv start failed (exit {proc.returncode}):\n{_tail(proc.stderr)}", pytrace=False
        )
    env = _read_env_file(state_dir / "env")
    return KubeEnv(
        dir=state_dir,
        kubeconfig=Path(env["KUBECONFIG"]),
        server=env["KUBE_SERVER"],
        token=env["KUBE_TOKEN"],
        ca_file=Path(env["KUBE_CA_FILE"]),
    )


def stop_kube_env(state_dir: Path) -> None:
    subprocess.run(
        ["bash", str(TESTENV_SCRIPT), "stop", str(state_dir)],
        capture_output=True,
        timeout=STOP_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="session")
def kube_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEnv]:
    """The main real API server for the whole session."""
    state_dir = tmp_path_factory.mktemp("kube-env")
    env = start_kube_env(state_dir)
    try:
        yield env
    finally:
        stop_kube_env(state_dir)


@pytest.fixture(scope="session")
def kube_env_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEnv]:
    """A second, independent API server (own etcd), e.g. the target of a restore."""
    state_dir = tmp_path_factory.mktemp("kube-env-target")
    env = start_kube_env(state_dir)
    try:
        yield env
    finally:
        stop_kube_env(state_dir)
