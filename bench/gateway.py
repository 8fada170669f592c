"""Gateway benchmark: direct-to-upstream vs through cerebra (auth, routing and request logging on), same
zero-delay fake OpenAI upstream, load from wrk in a separate process; plus streaming time-to-first-token
and CPU per relayed stream event (pass-through and Anthropic->OpenAI translated); the same for the
Anthropic Messages dialect (/v1/messages translated to the OpenAI fake) and /v1/responses translated to the
Anthropic fake (Responses -> chat -> Anthropic and back, JSON and stream) against the same fake called
directly. Optional LiteLLM proxy in the same run with BENCH_LITELLM=1. BENCH_ONLY=messages or
BENCH_ONLY=responses runs only that dialect's rows (and their direct baseline); BENCH_ONLY=floor only the
floor section.

The floor section (always run first): bench/relay_floor.py, a bare ASGI relay (aiohttp + orjson, no auth or
logging) under the same uvicorn, against the same fake upstream; cerebra plain (a key with no rule: auth,
routing, pricing, request log) and cerebra with the control plane on (a key under a generous budget and a
high rate limit: GCRA script on the kv, budget reserve/settle) are printed as ratios to it: CPU-ms per
request (process CPU over a wrk run of each), added p50 at concurrency 1, CPU us per relayed stream event.
BENCH_REPEAT=N repeats the section and prints medians. Cerebra runs on PostgreSQL and Redis: by default a
throw-away database created on --pg-admin-url and dropped at the end, and --redis-url (a `--database-url
sqlite+aiosqlite:///...` and `--redis-url memory` run everything in one process's memory instead).

    .venv/bin/python bench/gateway.py            # needs `wrk` (apt-get install wrk)
    BENCH_DURATION=10 BENCH_LITELLM=1 .venv/bin/python bench/gateway.py
    BENCH_ONLY=floor BENCH_REPEAT=3 .venv/bin/python bench/gateway.py --redis-url redis://127.0.0.1:6379/13
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DURATION = int(os.environ.get("BENCH_DURATION", "8"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,64").split(",")]
UPSTREAM_KEY = "sk-bench-upstream-key-0123456789"
STREAMS = int(os.environ.get("BENCH_STREAMS", "64"))
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}
MESSAGES_BODY = {**BODY, "max_tokens": 64}  # the Anthropic Messages request of the same call
ONLY = os.environ.get("BENCH_ONLY", "")
RESPONSES_BODY = {"model": "bench-claude", "input": "Say hello in one short sentence."}
ANTHROPIC_BODY = {**BODY, "model": "claude-3-5-haiku-latest", "max_tokens": 4096}
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
PROFILE_DIR = os.environ.get("BENCH_PROFILE")
FLOOR_CONCURRENCY = [int(c) for c in os.environ.get("BENCH_FLOOR_CONCURRENCY", "1,16").split(",")]

WRK_LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
%s
done = function(summary, latency, requests)
  io.write(string.format("JSON{\\"requests\\": %%d, \\"errors\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"secs\\": %%f}\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout, latency:percentile(50), latency:percentile(99), summary.duration / 1e6))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children (uvicorn runs in the process itself)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(cmd: list[str], env: dict | None = None, port: int | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if port:
        wait_port(port)
    return proc


UNIQUE_LUA = """
tag = tostring({}):gsub("%%W", "")  -- differs per wrk thread (each has its own Lua state)
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, [[%s]] .. tag .. "-" .. counter .. [[%s]])
end
"""
NUMBER_HERE = "@N@"


def wrk(
    url: str,
    key: str,
    connections: int,
    body: dict = BODY,
    anthropic: bool = False,
    duration: int | None = None,
    unique: bool = False,
) -> dict:
    """One wrk run; `unique` makes every request body distinct (a cache's miss path)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    if anthropic:  # the Anthropic API's own headers (the direct baseline of the translated rows)
        headers = f'wrk.headers["x-api-key"] = "{key}"\nwrk.headers["anthropic-version"] = "2023-06-01"'
    else:
        headers = f'wrk.headers["Authorization"] = "Bearer {key}"'
    if unique:  # the message's text ends with a thread tag and the request's number
        doc = json.loads(json.dumps(body))
        doc["messages"][-1]["content"] += " " + NUMBER_HERE
        before, after = json.dumps(doc).split(NUMBER_HERE)
        headers += UNIQUE_LUA % (before, after)
    script.write_text(WRK_LUA % (json.dumps(body), headers))
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration or DURATION}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()
    line = next(ln for ln in out.splitlines() if ln.startswith("JSON"))
    result = json.loads(line[4:])
    result["rps"] = result["requests"] / result["secs"]
    return result


async def ttft(url: str, key: str, n: int = 200, request: dict = BODY) -> float:
    """Median time to the first streamed byte, sequential requests (ms)."""
    samples = []
    body = {**request, "stream": True}
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            started = time.perf_counter()
            async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
                await resp.content.readany()
                samples.append((time.perf_counter() - started) * 1000)
                await resp.read()
    return statistics.median(samples)


async def paced_streams(url: str, key: str, streams: int, model: str, request: dict = BODY) -> int:
    """Run `streams` concurrent streaming requests; returns SSE events received."""
    body = {**request, "model": model, "stream": True}

    async def one(session: aiohttp.ClientSession) -> int:
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
            data = await resp.read()
            return data.count(b"data: ")

    async with aiohttp.ClientSession() as session:
        counts = await asyncio.gather(*(one(session) for _ in range(streams)))
    return sum(counts)


CP_BODY = {**BODY, "model": "bench-cp"}


async def control_plane_key(base: str, admin_key: str) -> str:
    """A cerebra key under a generous total budget and a high rate limit (both on every model), made
    through the admin API as an operator would: the control-plane rows' key."""
    headers = {"X-API-Key": admin_key}
    async with aiohttp.ClientSession(base, headers=headers) as session:

        async def post(path: str, doc: dict) -> dict:
            async with session.post(path, json=doc) as resp:
                body = await resp.json()
                if resp.status >= 300:
                    raise RuntimeError(f"POST {path}: {resp.status} {body}")
                return body

        created = await post("/api/v1/keys", {"name": "bench-control-plane", "scopes": ["cerebra"]})
        key_id = str(created["id"])
        await post(
            "/api/v1/budgets",
            {"scope": "key", "scope_id": key_id, "period": "total", "limit_usd": "100000000"},
        )
        await post(
            "/api/v1/rate-limits",
            {"scope": "key", "scope_id": key_id, "rpm": 100_000_000, "tpm": 1_000_000_000},
        )
        return created["key"]


def stream_cpu(url: str, key: str, pid: int, model: str) -> tuple[int, float]:
    """(events, CPU us per relayed event) of `pid` over STREAMS concurrent paced streams."""
    asyncio.run(paced_streams(url, key, 2, model))  # warm-up
    cpu0 = cpu_seconds(pid)
    events = asyncio.run(paced_streams(url, key, STREAMS, model))
    return events, (cpu_seconds(pid) - cpu0) * 1e6 / max(events, 1)


def measured(
    url: str, key: str, pid: int, c: int, body: dict, unique: bool = False, profile: str | None = None
) -> dict:
    """One wrk run with the CPU the process `pid` spent on it, per request (ms). With BENCH_PROFILE=<dir>,
    py-spy samples `pid` over the run into <dir>/<profile>.txt (collapsed stacks; its own CPU is not
    the process's, but sampling slows the process: the profiled runs' figures are not the table's)."""
    spy = None
    if profile and PROFILE_DIR:
        out = Path(PROFILE_DIR) / f"{profile}-c{c}.txt"
        spy = subprocess.Popen(
            ["py-spy", "record", "-p", str(pid), "-o", str(out), "--format", "raw", "-r", "250"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
    cpu0 = cpu_seconds(pid)
    result = wrk(url, key, c, body, unique=unique)
    result["cpu_ms"] = (cpu_seconds(pid) - cpu0) * 1000 / max(result["requests"], 1)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    return result


def floor_section(
    ports: dict[str, int], gateway_pid: int, floor_pid: int, key: str, cp_key: str, unique_bodies: bool
) -> dict:
    """The floor relay, cerebra plain and cerebra with the control plane on, same upstream, same run."""
    direct_url = f"http://127.0.0.1:{ports['openai']}/v1/chat/completions"
    floor_url = f"http://127.0.0.1:{ports['floor']}/v1/chat/completions"
    gw_url = f"http://127.0.0.1:{ports['gateway']}/v1/chat/completions"
    for url, k, body in ((floor_url, key, BODY), (gw_url, key, BODY), (gw_url, cp_key, CP_BODY)):
        wrk(url, k, 16, body, duration=2, unique=unique_bodies and body is CP_BODY)  # warm-up
    rows = {}
    for c in FLOOR_CONCURRENCY:
        rows[c] = {
            "direct": wrk(direct_url, UPSTREAM_KEY, c),
            "floor": measured(floor_url, key, floor_pid, c, BODY, profile="floor"),
            "plain": measured(gw_url, key, gateway_pid, c, BODY, profile="plain"),
            "control": measured(
                gw_url, cp_key, gateway_pid, c, CP_BODY, unique=unique_bodies, profile="control"
            ),
        }
    streams = {
        "floor": stream_cpu(floor_url, key, floor_pid, "paced")[1],
        "pass-through": stream_cpu(gw_url, key, gateway_pid, "paced")[1],
        "translated": stream_cpu(gw_url, key, gateway_pid, "paced-claude")[1],
        "pass-through, control plane on": stream_cpu(gw_url, cp_key, gateway_pid, "paced")[1],
    }
    return {"rows": rows, "streams": streams, "load": os.getloadavg()[0]}


def print_floor(runs: list[dict], database_url: str, args: argparse.Namespace) -> None:
    """Medians over the runs; every cerebra figure also as a ratio to the same run's floor."""

    def med(values: list[float]) -> float:
        return statistics.median(values)

    backend = database_url.split(":", 1)[0].split("+")[0]
    kv = "in-process kv" if args.redis_url == "memory" else "Redis"
    cache = f"route cache ttl {args.cache_ttl}s, miss path" if args.cache_ttl else "no response cache"
    loads = ", ".join(f"{r['load']:.2f}" for r in runs)
    print(
        f"\n## cerebra against its floor (bench/relay_floor.py), median of {len(runs)} run(s), "
        f"{DURATION}s per wrk run; {backend} + {kv}, request log on, {cache}; load average 1 min: {loads}\n"
    )
    print(
        "| concurrency | what | req/s | p50 ms | added p50 ms | added p50 / floor's | CPU-ms/req "
        "| CPU / floor's |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for c in FLOOR_CONCURRENCY:
        for what, label in (
            ("floor", "floor relay"),
            ("plain", "cerebra plain"),
            ("control", "cerebra, control plane on"),
        ):
            rps = med([r["rows"][c][what]["rps"] for r in runs])
            p50 = med([r["rows"][c][what]["p50_us"] / 1000 for r in runs])
            added = [(r["rows"][c][what]["p50_us"] - r["rows"][c]["direct"]["p50_us"]) / 1000 for r in runs]
            added_ratio = [
                a / max((r["rows"][c]["floor"]["p50_us"] - r["rows"][c]["direct"]["p50_us"]) / 1000, 1e-3)
                for a, r in zip(added, runs, strict=True)
            ]
            cpu = med([r["rows"][c][what]["cpu_ms"] for r in runs])
            cpu_ratio = med([r["rows"][c][what]["cpu_ms"] / r["rows"][c]["floor"]["cpu_ms"] for r in runs])
            print(
                f"| {c} | {label} | {rps:.0f} | {p50:.3f} | {med(added):.3f} | {med(added_ratio):.2f}x "
                f"| {cpu:.3f} | {cpu_ratio:.2f}x |"
            )
    for c in FLOOR_CONCURRENCY:
        extra = med([r["rows"][c]["control"]["cpu_ms"] - r["rows"][c]["plain"]["cpu_ms"] for r in runs])
        extra_ratio = med(
            [
                (r["rows"][c]["control"]["cpu_ms"] - r["rows"][c]["plain"]["cpu_ms"])
                / r["rows"][c]["floor"]["cpu_ms"]
                for r in runs
            ]
        )
        print(
            f"\ncontrol plane's added CPU per call at concurrency {c}: {extra:.3f} ms "
            f"({extra_ratio:.2f}x the floor's whole call)"
        )
    print("\n| paced stream (100 events 1 ms apart) | CPU us/event | / floor's (pass-through) |")
    print("|---|---|---|")
    for label in runs[0]["streams"]:
        value = med([r["streams"][label] for r in runs])
        ratio = med([r["streams"][label] / r["streams"]["floor"] for r in runs])
        print(f"| {'floor relay' if label == 'floor' else 'cerebra ' + label} | {value:.1f} | {ratio:.2f}x |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="cerebra gateway benchmark against its floor")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="cerebra's database (default: a throw-away PostgreSQL database on --pg-admin-url)",
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="where the throw-away database is created and dropped",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="cerebra's kv (rate limits, budget reservations); `memory` for in-process",
    )
    parser.add_argument(
        "--cache-ttl",
        type=int,
        default=int(os.environ.get("BENCH_CACHE_TTL", "0")),
        help="route cache TTL (s) for the control-plane alias, every request distinct (the cache's miss "
        "path); 0 = no cache (needs a cerebra with the response cache)",
    )
    return parser.parse_args()


async def _pg(admin_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def throwaway_database(admin_url: str) -> tuple[str, str]:
    """CREATE DATABASE oco_bench_<pid> on the admin URL's server: (its SQLAlchemy URL, its name)."""
    name = f"oco_bench_{os.getpid()}"
    asyncio.run(_pg(admin_url, f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="oco-bench-"))
    ports = {
        name: free_port()
        for name in ("openai", "anthropic", "openai_paced", "anthropic_paced", "gateway", "floor")
    }
    procs: list[subprocess.Popen] = []
    dropped: str | None = None
    database_url = args.database_url
    if database_url is None:
        database_url, dropped = throwaway_database(args.pg_admin_url)
    try:
        fake = [PY, "-m", "tests.cerebra.fakes.upstreams"]
        procs.append(
            start([*fake, "--provider", "openai", "--port", str(ports["openai"])], port=ports["openai"])
        )
        procs.append(
            start(
                [*fake, "--provider", "anthropic", "--port", str(ports["anthropic"])], port=ports["anthropic"]
            )
        )
        procs.append(
            start(
                [
                    *fake,
                    "--provider",
                    "openai",
                    "--port",
                    str(ports["openai_paced"]),
                    "--events",
                    "100",
                    "--pace-ms",
                    "1",
                ],
                port=ports["openai_paced"],
            )
        )
        procs.append(
            start(
                [
                    *fake,
                    "--provider",
                    "anthropic",
                    "--port",
                    str(ports["anthropic_paced"]),
                    "--events",
                    "100",
                    "--pace-ms",
                    "1",
                ],
                port=ports["anthropic_paced"],
            )
        )
        routes = work / "routes.yaml"
        routes.write_text(
            json.dumps(
                {
                    "models": {
                        "bench": {
                            "deployments": [
                                {
                                    "provider": "openai",
                                    "model": "gpt-4o-mini",
                                    "api_key_env": "BENCH_KEY",
                                    "api_base": f"http://127.0.0.1:{ports['openai']}/v1",
                                }
                            ]
                        },
                        "paced": {
                            "deployments": [
                                {
                                    "provider": "openai",
                                    "model": "gpt-4o-mini",
                                    "api_key_env": "BENCH_KEY",
                                    "api_base": f"http://127.0.0.1:{ports['openai_paced']}/v1",
                                }
                            ]
                        },
                        "bench-claude": {
                            "deployments": [
                                {
                                    "provider": "anthropic",
                                    "model": "claude-3-5-haiku-latest",
                                    "api_key_env": "BENCH_KEY",
                                    "api_base": f"http://127.0.0.1:{ports['anthropic']}",
                                }
                            ]
                        },
                        "paced-claude": {
                            "deployments": [
                                {
                                    "provider": "anthropic",
                                    "model": "claude-3-5-haiku-latest",
                                    "api_key_env": "BENCH_KEY",
                                    "api_base": f"http://127.0.0.1:{ports['anthropic_paced']}",
                                }
                            ]
                        },
                        "bench-cp": {  # the control-plane rows' alias (a route cache with --cache-ttl)
                            "deployments": [
                                {
                                    "provider": "openai",
                                    "model": "gpt-4o-mini",
                                    "api_key_env": "BENCH_KEY",
                                    "api_base": f"http://127.0.0.1:{ports['openai']}/v1",
                                }
                            ],
                            **({"cache": {"ttl_s": args.cache_ttl}} if args.cache_ttl else {}),
                        },
                    }
                }
            )
        )
        env = {
            "OCO_DATABASE_URL": database_url,
            "OCO_CEREBRA_ROUTES": str(routes),
            "OCO_DATA_DIR": str(work / "data"),
            "BENCH_KEY": UPSTREAM_KEY,
            "OCO_LOG_LEVEL": "WARNING",
        }
        if args.redis_url != "memory":
            env["REDIS_URL"] = args.redis_url
        oco = str(Path(PY).parent / "oco")
        subprocess.run(
            [oco, "db", "upgrade"], cwd=work, env={**os.environ, **env}, check=True, capture_output=True
        )
        key = subprocess.run(
            [oco, "keys", "create", "--name", "bench", "--scope", "cerebra"],
            cwd=work,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        admin_key = subprocess.run(
            [oco, "keys", "create", "--name", "bench-admin", "--scope", "admin"],
            cwd=work,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        gateway = start(
            [PY, "-m", "cerebra", "--port", str(ports["gateway"])], env=env, port=ports["gateway"]
        )
        procs.append(gateway)
        floor = start(
            [
                PY,
                str(ROOT / "bench" / "relay_floor.py"),
                "--port",
                str(ports["floor"]),
                "--upstream",
                f"http://127.0.0.1:{ports['openai']}/v1",
                "--key",
                UPSTREAM_KEY,
                "--route",
                f"paced=http://127.0.0.1:{ports['openai_paced']}/v1",
            ],
            port=ports["floor"],
        )
        procs.append(floor)
        cp_key = asyncio.run(control_plane_key(f"http://127.0.0.1:{ports['gateway']}", admin_key))
        floor_runs = []
        for _ in range(max(REPEAT, 1)):
            floor_runs.append(
                floor_section(ports, gateway.pid, floor.pid, key, cp_key, unique_bodies=bool(args.cache_ttl))
            )
        print_floor(floor_runs, database_url, args)
        if ONLY == "floor":
            return
        direct_url = f"http://127.0.0.1:{ports['openai']}/v1/chat/completions"
        gw_url = f"http://127.0.0.1:{ports['gateway']}/v1/chat/completions"
        messages_url = f"http://127.0.0.1:{ports['gateway']}/v1/messages"
        wrk(gw_url, key, 4)  # warm up connections and caches
        wrk(messages_url, key, 4, MESSAGES_BODY)

        rows, stream_rows, messages_rows = [], [], []
        for c in CONCURRENCY:
            direct = wrk(direct_url, UPSTREAM_KEY, c)
            cpu0 = cpu_seconds(gateway.pid)
            through = wrk(messages_url, key, c, MESSAGES_BODY)
            cpu_ms = (cpu_seconds(gateway.pid) - cpu0) * 1000 / max(through["requests"], 1)
            messages_rows.append((c, direct, through, cpu_ms, rss_mb(gateway.pid)))
        direct_ttft = asyncio.run(ttft(direct_url, UPSTREAM_KEY))
        messages_ttft = asyncio.run(ttft(messages_url, key, request=MESSAGES_BODY))
        asyncio.run(paced_streams(messages_url, key, 2, "paced", MESSAGES_BODY))  # warm-up
        cpu0 = cpu_seconds(gateway.pid)
        events = asyncio.run(paced_streams(messages_url, key, STREAMS, "paced", MESSAGES_BODY))
        messages_stream = (events, (cpu_seconds(gateway.pid) - cpu0) * 1e6 / max(events, 1))

        for c in CONCURRENCY if not ONLY else ():
            direct = wrk(direct_url, UPSTREAM_KEY, c)
            cpu0 = cpu_seconds(gateway.pid)
            through = wrk(gw_url, key, c)
            cpu_ms = (cpu_seconds(gateway.pid) - cpu0) * 1000 / max(through["requests"], 1)
            rows.append((c, direct, through, cpu_ms, rss_mb(gateway.pid)))

        gw_ttft = asyncio.run(ttft(gw_url, key)) if not ONLY else None
        base = f"http://127.0.0.1:{ports['gateway']}/v1"
        anthropic_url = f"http://127.0.0.1:{ports['anthropic']}/v1/messages"
        dialect_rows = []
        if ONLY in ("", "responses"):
            wrk(base + "/responses", key, 4, RESPONSES_BODY)  # warm-up
            for c in CONCURRENCY[:2]:
                direct = wrk(anthropic_url, UPSTREAM_KEY, c, ANTHROPIC_BODY, anthropic=True)
                chat = wrk(gw_url, key, c, {**BODY, "model": "bench-claude"})
                cpu0 = cpu_seconds(gateway.pid)
                responses = wrk(base + "/responses", key, c, RESPONSES_BODY)
                cpu_ms = (cpu_seconds(gateway.pid) - cpu0) * 1000 / max(responses["requests"], 1)
                dialect_rows.append((c, direct, chat, responses, cpu_ms))

        for model, label in (
            ()
            if ONLY
            else (("paced", "pass-through (openai)"), ("paced-claude", "translated (anthropic->openai)"))
        ):
            asyncio.run(paced_streams(gw_url, key, 2, model))  # warm-up
            cpu0 = cpu_seconds(gateway.pid)
            events = asyncio.run(paced_streams(gw_url, key, STREAMS, model))
            cpu_us = (cpu_seconds(gateway.pid) - cpu0) * 1e6 / max(events, 1)
            stream_rows.append((label, events, cpu_us))
        if ONLY in ("", "responses"):
            asyncio.run(paced_streams(base + "/responses", key, 2, "paced-claude", RESPONSES_BODY))  # warm-up
            cpu0 = cpu_seconds(gateway.pid)
            events = asyncio.run(
                paced_streams(base + "/responses", key, STREAMS, "paced-claude", RESPONSES_BODY)
            )
            cpu_us = (cpu_seconds(gateway.pid) - cpu0) * 1e6 / max(events, 1)
            stream_rows.append(("/v1/responses translated (anthropic->responses)", events, cpu_us))

        litellm_rows = (
            run_litellm(ports["openai"], direct_url) if os.environ.get("BENCH_LITELLM") == "1" else None
        )

        print(f"\n## cerebra gateway benchmark ({DURATION}s per run, wrk, zero-delay fake OpenAI upstream)\n")
        print(
            "| concurrency | direct req/s | cerebra req/s | direct p50 ms | cerebra p50 ms | added p50 ms "
            "| direct p99 ms | cerebra p99 ms | errors | cerebra CPU-ms/req | cerebra RSS MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for c, d, t, cpu_ms, rss in rows:
            print(
                f"| {c} | {d['rps']:.0f} | {t['rps']:.0f} | {d['p50_us'] / 1000:.3f} | {t['p50_us'] / 1000:.3f} "
                f"| {(t['p50_us'] - d['p50_us']) / 1000:.3f} | {d['p99_us'] / 1000:.3f} | {t['p99_us'] / 1000:.3f} "
                f"| {t['errors']} | {cpu_ms:.3f} | {rss:.0f} |"
            )
        if gw_ttft is not None:
            print(
                f"\nstreaming time to first byte, median of 200 sequential: direct {direct_ttft:.3f} ms, "
                f"through cerebra {gw_ttft:.3f} ms, added {gw_ttft - direct_ttft:.3f} ms"
            )
        if dialect_rows:
            print(
                "\n| /v1/responses -> Anthropic fake, concurrency | direct Anthropic p50 ms | cerebra chat p50 ms "
                "| cerebra responses p50 ms | responses added p50 ms | responses req/s | responses CPU-ms/req |"
            )
            print("|---|---|---|---|---|---|---|")
            for c, d, chat, r, cpu_ms in dialect_rows:
                print(
                    f"| {c} | {d['p50_us'] / 1000:.3f} | {chat['p50_us'] / 1000:.3f} | {r['p50_us'] / 1000:.3f} "
                    f"| {(r['p50_us'] - d['p50_us']) / 1000:.3f} | {r['rps']:.0f} | {cpu_ms:.3f} |"
                )
        print(
            f"\n| paced stream (100 events 1 ms apart, {STREAMS} concurrent) | events relayed | cerebra CPU us/event |"
        )
        print("|---|---|---|")
        for label, events, cpu_us in stream_rows:
            print(f"| {label} | {events} | {cpu_us:.1f} |")
        print(
            f"| /v1/messages translated (anthropic messages -> openai) | {messages_stream[0]} | "
            f"{messages_stream[1]:.1f} |"
        )

        print("\n## /v1/messages (Anthropic Messages in, translated to the same fake OpenAI upstream)\n")
        print(
            "| concurrency | direct chat req/s | /v1/messages req/s | direct p50 ms | messages p50 ms "
            "| added p50 ms (target < 1) | messages CPU-ms/req |"
        )
        print("|---|---|---|---|---|---|---|")
        for c, d, t, cpu_ms, _ in messages_rows:
            print(
                f"| {c} | {d['rps']:.0f} | {t['rps']:.0f} | {d['p50_us'] / 1000:.3f} | {t['p50_us'] / 1000:.3f} "
                f"| {(t['p50_us'] - d['p50_us']) / 1000:.3f} | {cpu_ms:.3f} |"
            )
        print(
            f"\n/v1/messages stream, time to first byte (median of 200): {messages_ttft:.3f} ms "
            f"(direct chat {direct_ttft:.3f} ms, added {messages_ttft - direct_ttft:.3f} ms); "
            f"CPU per relayed event {messages_stream[1]:.1f} us (target < 50)"
        )
        if litellm_rows:
            print("\n| concurrency | LiteLLM req/s | LiteLLM p50 ms | cerebra/LiteLLM throughput |")
            print("|---|---|---|---|")
            for (c, lite), (_, _, t, _, _) in zip(litellm_rows, rows, strict=False):
                print(
                    f"| {c} | {lite['rps']:.0f} | {lite['p50_us'] / 1000:.3f} | {t['rps'] / max(lite['rps'], 1):.1f}x |"
                )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
        if dropped:
            asyncio.run(_pg(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)'))


def run_litellm(upstream_port: int, direct_url: str) -> list[tuple[int, dict]]:
    """LiteLLM proxy in its own virtualenv (outside the project's dependencies), same upstream."""
    venv = Path(os.environ.get("BENCH_LITELLM_VENV", "/tmp/oco-bench-litellm"))
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    port = free_port()
    config = Path(tempfile.mkstemp(suffix=".yaml")[1])
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "bench",
                        "litellm_params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": f"http://127.0.0.1:{upstream_port}/v1",
                            "api_key": UPSTREAM_KEY,
                        },
                    }
                ],
                "general_settings": {"master_key": "sk-litellm-bench"},
            }
        )
    )
    proc = subprocess.Popen(
        [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, timeout=180)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        wrk(url, "sk-litellm-bench", 4)
        return [(c, wrk(url, "sk-litellm-bench", c)) for c in CONCURRENCY]
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
