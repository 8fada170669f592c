"""The floor of bench/gateway.py: the least a Python gateway on this stack can do per call. A bare ASGI app
under uvicorn (the same server and options cerebra runs with), one pooled aiohttp client session and orjson;
no auth, routing, pricing, limits or logging. POST /v1/chat/completions reads the JSON body, forwards it
to the upstream with the upstream key, and answers with the upstream's body, or relays the upstream's SSE
frames as they come when the request says `"stream": true` (`--route MODEL=URL` sends a model elsewhere). Whatever cerebra costs beyond this is cerebra.

    .venv/bin/python bench/relay_floor.py --port 9000 --upstream http://127.0.0.1:8001/v1 --key sk-...
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import orjson
import uvicorn

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Relay:
    """The whole relay: one ASGI callable."""

    def __init__(self, upstream: str, key: str, routes: dict[str, str] | None = None) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.urls = {model: base.rstrip("/") + "/chat/completions" for model, base in (routes or {}).items()}
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = orjson.loads(b"".join(chunks))
        assert self.session is not None
        url = self.urls.get(body.get("model"), self.url) if self.urls else self.url
        async with self.session.post(url, data=orjson.dumps(body), headers=self.headers) as resp:
            if body.get("stream") is True:
                await send({"type": "http.response.start", "status": resp.status, "headers": SSE_HEADERS})
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            data = await resp.read()
        await send({"type": "http.response.start", "status": resp.status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": data})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=512, ttl_dns_cache=300, keepalive_timeout=30)
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's /v1 base URL")
    parser.add_argument("--key", required=True, help="the upstream API key")
    parser.add_argument(
        "--route", action="append", default=[], help="MODEL=URL: another upstream for a model"
    )
    args = parser.parse_args()
    routes = dict(route.split("=", 1) for route in args.route)
    uvicorn.run(
        Relay(args.upstream, args.key, routes),
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
