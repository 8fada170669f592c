"""The three services started as their images start them, without Docker: each target's CMD from
deploy/docker/Dockerfile with the target's ENV, as UID 1001 with no capabilities, and (when this process may
make a mount namespace) with the whole filesystem read-only except a temporary folder standing in for the
declared volume. Also reads the metric names a running service exports on /metrics."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.deploy import dockerfile

UID = 1001
VOLUME = "/var/lib/oco"
SERVICES = ("cerebra", "economist", "aegis")
# In the mount namespace: keep the volume writable, re-expose this interpreter when it lives below a folder
# other users cannot enter (pyenv under /root: a tmpfs replaces that folder, holding only the interpreter's
# installation), then make everything else read-only and run the command.
SANDBOX = """set -e
volume="$1"; hidden="$2"; python_home="$3"; stash="$4"; shift 4
mount --bind "$volume" "$volume"
if [ -n "$hidden" ]; then
  mount --bind "$python_home" "$stash"
  mount -t tmpfs -o mode=0755 tmpfs "$hidden"
  mkdir -p "$python_home"
  mount --bind "$stash" "$python_home"
  mount -o remount,bind,ro "$python_home"
  mount -o remount,ro "$hidden"
fi
mount -o remount,bind,ro /
exec "$@"
"""


def is_root() -> bool:
    return os.geteuid() == 0


def can_make_mount_namespace() -> bool:
    """True when `unshare --mount` works here (root with CAP_SYS_ADMIN)."""
    if not is_root() or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            "mount -o remount,bind,ro / && true",
        ],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def unprivileged(command: list[str], volume: Path, read_only_root: bool) -> list[str]:
    """`command` as UID/GID 1001 without capabilities, and with only `volume` writable when asked."""
    drop = [
        "setpriv",
        f"--reuid={UID}",
        f"--regid={UID}",
        "--clear-groups",
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]
    if not read_only_root:
        return drop + command
    hidden = closed_ancestor(Path(sys.base_prefix))
    stash = volume.parent / "python"
    stash.mkdir(exist_ok=True)
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        "sh", "-c", SANDBOX, "sandbox", str(volume), str(hidden or ""), sys.base_prefix, str(stash),
        *drop, *command,
    ]  # fmt: skip


def closed_ancestor(path: Path) -> Path | None:
    """The outermost folder above `path` that other users may not enter, if any."""
    for parent in reversed(path.resolve().parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def make_volume() -> Path:
    """A folder owned by 1001 (mode 0750, as the image creates it) standing in for the declared volume,
    inside a scratch folder of its own (removed by stop())."""
    scratch = Path(tempfile.mkdtemp(prefix="oco-image-"))
    scratch.chmod(0o755)
    path = scratch / "volume"
    path.mkdir()
    if is_root():
        os.chown(path, UID, UID)
    path.chmod(0o750)
    return path


def image_environment(target: str, volume: Path) -> dict[str, str]:
    """The target's ENV with the volume's path mapped to `volume` and this checkout's code and Python."""
    env = {k: v.replace(VOLUME, str(volume)) for k, v in dockerfile.env(target).items()}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    env["PYTHONPATH"] = str(dockerfile.ROOT)
    return env


def image_command(target: str, port: int) -> list[str]:
    """The target's CMD with this interpreter for `python`, on a free port instead of the fixed one."""
    command = dockerfile.command(target)
    if command[0] == "python":
        command = [sys.executable, *command[1:]]
    return [*command, "--port", str(port)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    name: str
    process: subprocess.Popen
    url: str
    volume: Path
    unprivileged: bool
    read_only_root: bool
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start(target: str, *, as_image: bool, read_only_root: bool) -> Running:
    """Start a target's CMD and wait (bounded) until /healthz answers or the process exits."""
    volume = make_volume()
    port = free_port()
    command = image_command(target, port)
    if as_image:
        command = unprivileged(command, volume, read_only_root)
    log = Path(tempfile.mkstemp(prefix=f"oco-{target}-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=image_environment(target, volume), cwd="/", stdout=sink, stderr=subprocess.STDOUT
        )
    running = Running(target, process, f"http://127.0.0.1:{port}", volume, as_image, read_only_root, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{running.url}/healthz", timeout=2).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    output = running.output()
    stop(running)
    raise AssertionError(f"{target} did not answer /healthz (exit {process.returncode}):\n{output}")


def stop(running: Running) -> None:
    if running.process.poll() is None:
        running.process.terminate()
        try:
            running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
    shutil.rmtree(running.volume.parent, ignore_errors=True)
    running.log.unlink(missing_ok=True)


TYPE_LINE = re.compile(r"^# TYPE (\S+) (\w+)$")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


def metric_names(exposition: str) -> set[str]:
    """Every series name a /metrics page offers, including those of families with no sample yet
    (a labelled counter nobody has incremented still declares its `# TYPE`)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        typed = TYPE_LINE.match(line)
        if typed:
            family, kind = typed.groups()
            base = family.removesuffix("_total") if kind == "counter" else family
            names.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names
