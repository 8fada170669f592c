"""Scriptable fake OpenAI, Anthropic and Gemini servers on loopback (aiohttp, in a background thread)
that record every request; and the `python -m tests.cerebra.fakes.upstreams` entry point for benchmarks.

    with FakeAnthropic() as fake:
        fake.enqueue(Reply(status=429, retry_after="1"), Reply(text="hi"))
        ... call fake.base_url ...
        assert fake.requests[-1].json["max_tokens"] == 4096
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.cerebra.fakes import wire
from tests.cerebra.fakes.wire import Reply

HANG_LIMIT_S = 300.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any  # parsed body, None when not JSON


class FakeUpstream:
    """Base of the fakes: lifecycle, recording, the reply queue, and the helpers the routes share."""

    provider = ""
    base_path = ""  # what the provider's SDKs put after host:port in their base URL

    def __init__(
        self, *, api_key: str | None = None, require_auth: bool = True, record: bool = True, port: int = 0
    ) -> None:
        self.api_key = api_key  # when set, a different key is rejected too
        self.require_auth = require_auth
        self.record = record
        self.port = port
        self.default = Reply()
        self.requests: list[RecordedRequest] = []
        self.count = 0
        self.disconnects = 0  # streams the client (cerebra) closed before the end
        self.streams_done = 0  # streams whose last event was written
        self._queue: deque[Reply] = deque()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # ----------------------------------------------------------------- scripting and inspection
    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; then with `self.default`."""
        self._queue.extend(replies)

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + self.base_path

    def next_reply(self) -> Reply:
        return self._queue.popleft() if self._queue else self.default

    # ----------------------------------------------------------------- lifecycle
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start_async(self) -> None:
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, shutdown_timeout=0.5)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def start(self) -> FakeUpstream:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            leftovers = asyncio.all_tasks(loop)  # handlers of clients that already went away
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.provider}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- shared route helpers
    async def receive(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        self.count += 1
        doc = None
        if body:
            with contextlib.suppress(orjson.JSONDecodeError):
                doc = orjson.loads(body)
        rec = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            doc,
        )
        if self.record:
            self.requests.append(rec)
        return rec

    async def before_answer(self, request: web.Request, reply: Reply) -> bool:
        """Apply delay/hang/drop; False when the connection was dropped (send nothing)."""
        if reply.delay_s and not await self._pause(reply.delay_s):
            return False
        if reply.hang:
            await self._pause(HANG_LIMIT_S)
            return False
        if reply.drop:
            drop_connection(request)
            return False
        return True

    async def _pause(self, seconds: float) -> bool:
        """Sleep, but wake up when the fake stops; False when it is stopping."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    @staticmethod
    def json_response(status: int, doc: Any, reply: Reply | None = None) -> web.Response:
        headers = {"content-type": "application/json"}
        if reply is not None:
            headers.update(reply.headers)
            if reply.retry_after is not None:
                headers["retry-after"] = reply.retry_after
        return web.Response(status=status, body=orjson.dumps(doc), headers=headers)

    async def stream(self, request: web.Request, reply: Reply, frames: Iterable[bytes]) -> web.StreamResponse:
        headers = {"content-type": "text/event-stream", "cache-control": "no-cache", **reply.headers}
        resp = web.StreamResponse(status=200, headers=headers)
        await resp.prepare(request)
        try:
            for n, frame in enumerate(reply.raw_stream if reply.raw_stream is not None else frames):
                if reply.drop_after_events is not None and n >= reply.drop_after_events:
                    drop_connection(request)
                    return resp
                if reply.reset_after_events is not None and n >= reply.reset_after_events:
                    reset_connection(request)
                    return resp
                if reply.hang_after_events is not None and n >= reply.hang_after_events:
                    await self._pause(HANG_LIMIT_S)  # headers and some events sent, then silence
                    return resp
                await resp.write(frame)
                if reply.pace_s:
                    await asyncio.sleep(reply.pace_s)
                    if self._stopping is not None and self._stopping.is_set():
                        return resp
            await resp.write_eof()
            self.streams_done += 1
        except ConnectionError:
            self.disconnects += 1  # the client went away mid-stream
        return resp


# Parameters of other providers' APIs that OpenAI's chat completions reject as unrecognized.
NOT_OPENAI_PARAMETERS = ("top_k", "thinking", "stop_sequences", "system")


def _stops(stop: Any) -> list[str] | None:
    return [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else None


def raw_response(raw: tuple[int, str, bytes]) -> web.Response:
    """Exactly the scripted status, content type and body (a 204, JSON to a stream request, ...)."""
    status, content_type, body = raw
    if status in (204, 304):
        return web.Response(status=status)
    return web.Response(status=status, body=body, headers={"content-type": content_type})


def drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def reset_connection(request: web.Request) -> None:
    """Close with a TCP RST instead of a FIN: SO_LINGER on with a zero timeout, then close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _dropped() -> web.Response:
    # Nothing reaches the client once the transport is closed; aiohttp just needs a response object.
    return web.Response(status=499)


# ------------------------------------------------------------------------------------------- OpenAI


class FakeOpenAI(FakeUpstream):
    """OpenAI chat.completions (+SSE), responses (+SSE) and embeddings at /v1/..., and the Azure deployment paths
    /openai/deployments/{deployment}/... (api-key header, api-version query)."""

    provider = "openai"
    base_path = "/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/responses", self.responses)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        azure = request.path.startswith("/openai/")
        if azure and "api-version" not in request.query:
            return self.json_response(404, {"error": {"code": "404", "message": "Resource not found"}})
        if not self.require_auth:
            return None
        if azure:
            key = request.headers.get("api-key")
        else:
            auth = request.headers.get("authorization", "")
            key = auth[7:] if auth.startswith("Bearer ") else None
        if not key:
            msg = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            return self.json_response(401, wire.openai_error(401, msg))
        if self.api_key is not None and key != self.api_key:
            msg = f"Incorrect API key provided: {key[:3]}***{key[-4:]}."
            return self.json_response(401, wire.openai_error(401, msg, "invalid_api_key"))
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        rec = await self.receive(request)
        if (err := self._auth_error(request)) is not None:
            return err
        doc = rec.json
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list) or not doc.get("model"):
            return self.json_response(400, wire.openai_error(400, "'model' and 'messages' are required"))
        if doc.get("stream_options") is not None and not doc.get("stream"):
            msg = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            return self.json_response(400, wire.openai_error(400, msg))
        unknown = [name for name in NOT_OPENAI_PARAMETERS if name in doc]
        if unknown:
            msg = f"Unrecognized request argument supplied: {unknown[0]}"
            return self.json_response(400, wire.openai_error(400, msg))
        reply = wire.apply_stop(self.next_reply(), _stops(doc.get("stop")))
        if not await self.before_answer(request, reply):
            return _dropped()
        if reply.raw is not None:
            return raw_response(reply.raw)
        if reply.status >= 400:
            return self.json_response(
                reply.status,
                wire.openai_error(reply.status, reply.error_message or "fake upstream error"),
                reply,
            )
        model = request.match_info.get("deployment") or doc["model"]
        if doc.get("stream"):
            include_usage = bool((doc.get("stream_options") or {}).get("include_usage"))
            return await self.stream(request, reply, wire.openai_stream(model, reply, include_usage))
        body = reply.json_body if reply.json_body is not None else wire.openai_completion(model, reply)
        return self.json_response(200, body, reply)

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """The Responses API: a response object, or its documented event stream."""
        rec = await self.receive(request)
        if (err := self._auth_error(request)) is not None:
            return err
        doc = rec.json
        if not isinstance(doc, dict) or not doc.get("model"):
            return self.json_response(400, wire.openai_error(400, "Missing required parameter: 'model'."))
        reply = self.next_reply()
        if not await self.before_answer(request, reply):
            return _dropped()
        if reply.status >= 400:
            return self.json_response(
                reply.status,
                wire.openai_error(reply.status, reply.error_message or "fake upstream error"),
                reply,
            )
        if doc.get("stream"):
            return await self.stream(request, reply, wire.openai_responses_stream(doc["model"], reply, doc))
        return self.json_response(200, wire.openai_response(doc["model"], reply, doc), reply)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        rec = await self.receive(request)
        if (err := self._auth_error(request)) is not None:
            return err
        doc = rec.json if isinstance(rec.json, dict) else {}
        inputs = doc.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return self.json_response(400, wire.openai_error(400, "'input' is required"))
        reply = self.next_reply()
        if not await self.before_answer(request, reply):
            return _dropped()
        if reply.raw is not None:
            return raw_response(reply.raw)
        if reply.status >= 400:
            return self.json_response(
                reply.status,
                wire.openai_error(reply.status, reply.error_message or "fake upstream error"),
                reply,
            )
        model = request.match_info.get("deployment") or doc.get("model", "")
        dims = doc.get("dimensions") or 8
        body = wire.openai_embeddings(model, [str(x) for x in inputs], dims, doc.get("encoding_format"))
        return self.json_response(200, body, reply)

    async def models(self, request: web.Request) -> web.StreamResponse:
        await self.receive(request)
        if (err := self._auth_error(request)) is not None:
            return err
        data = [{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}]
        return self.json_response(200, {"object": "list", "data": data})


# ---------------------------------------------------------------------------------------- Anthropic


class FakeAnthropic(FakeUpstream):
    """Anthropic Messages API: POST /v1/messages (JSON or `event:`/`data:` SSE with ping)."""

    provider = "anthropic"
    base_path = ""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    def _check(self, request: web.Request, doc: Any, full: bool = True) -> web.Response | None:
        if self.require_auth:
            key = request.headers.get("x-api-key")
            if not key:
                return self.json_response(401, wire.anthropic_error(401, "x-api-key header is required"))
            if self.api_key is not None and key != self.api_key:
                return self.json_response(401, wire.anthropic_error(401, "invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            return self.json_response(400, wire.anthropic_error(400, "anthropic-version: header is required"))
        if not isinstance(doc, dict):
            return self.json_response(400, wire.anthropic_error(400, "body: expected a JSON object"))
        for name in ("model", "messages", *(("max_tokens",) if full else ())):
            if name not in doc:
                return self.json_response(400, wire.anthropic_error(400, f"{name}: Field required"))
        messages = doc["messages"]
        if not isinstance(messages, list) or not messages:
            return self.json_response(
                400, wire.anthropic_error(400, "messages: at least one message is required")
            )
        for i, msg in enumerate(messages):
            role = msg.get("role") if isinstance(msg, dict) else None
            if role not in ("user", "assistant"):
                text = (
                    f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a top-level `system` '
                    'parameter, not "system" as an input message role.'
                )
                return self.json_response(400, wire.anthropic_error(400, text))
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        rec = await self.receive(request)
        if (err := self._check(request, rec.json)) is not None:
            return err
        reply = wire.apply_stop(self.next_reply(), rec.json.get("stop_sequences"))
        if not await self.before_answer(request, reply):
            return _dropped()
        if reply.raw is not None:
            return raw_response(reply.raw)
        if reply.status >= 400:
            return self.json_response(
                reply.status,
                wire.anthropic_error(reply.status, reply.error_message or "fake upstream error"),
                reply,
            )
        model = rec.json["model"]
        if rec.json.get("stream"):
            return await self.stream(request, reply, wire.anthropic_stream(model, reply))
        body = reply.json_body if reply.json_body is not None else wire.anthropic_message(model, reply)
        return self.json_response(200, body, reply)

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        rec = await self.receive(request)
        if (err := self._check(request, rec.json, full=False)) is not None:
            return err
        return self.json_response(200, {"input_tokens": len(rec.body) // 4})


# ------------------------------------------------------------------------------------------- Gemini


class FakeGemini(FakeUpstream):
    """Gemini API v1beta: models/{model}:generateContent, :streamGenerateContent (?alt=sse frames end in
    \\r\\n\\r\\n; without alt a JSON array), :embedContent, :batchEmbedContents.
    Auth as Google does it: x-goog-api-key header or ?key=; missing -> 403 PERMISSION_DENIED,
    wrong -> 400 INVALID_ARGUMENT "API key not valid"."""

    provider = "gemini"
    base_path = ""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{call}", self.dispatch)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if not self.require_auth:
            return None
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            msg = (
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."
            )
            return self.json_response(403, wire.gemini_error(403, msg))
        if self.api_key is not None and key != self.api_key:
            return self.json_response(
                400, wire.gemini_error(400, "API key not valid. Please pass a valid API key.")
            )
        return None

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        rec = await self.receive(request)
        if (err := self._auth_error(request)) is not None:
            return err
        model, _, method = request.match_info["call"].partition(":")
        handler = {
            "generateContent": self.generate,
            "streamGenerateContent": self.generate,
            "embedContent": self.embed,
            "batchEmbedContents": self.embed,
        }.get(method)
        if handler is None:
            return self.json_response(404, wire.gemini_error(404, f"Method {method!r} not found"))
        if not isinstance(rec.json, dict):
            return self.json_response(400, wire.gemini_error(400, "Invalid JSON payload received."))
        return await handler(request, rec, model, method)

    async def generate(
        self, request: web.Request, rec: RecordedRequest, model: str, method: str
    ) -> web.StreamResponse:
        contents = rec.json.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.json_response(
                400, wire.gemini_error(400, "* GenerateContentRequest.contents: contents is not specified")
            )
        for i, content in enumerate(contents):
            if content.get("role") not in ("user", "model") or not content.get("parts"):
                msg = f"* GenerateContentRequest.contents[{i}]: role must be user or model and parts must not be empty"
                return self.json_response(400, wire.gemini_error(400, msg))
        config = rec.json.get("generationConfig") or {}
        reply = wire.apply_stop(self.next_reply(), config.get("stopSequences"))
        if not await self.before_answer(request, reply):
            return _dropped()
        if reply.raw is not None:
            return raw_response(reply.raw)
        if reply.status >= 400:
            return self.json_response(
                reply.status,
                wire.gemini_error(reply.status, reply.error_message or "fake upstream error"),
                reply,
            )
        if method == "streamGenerateContent":
            frames = wire.gemini_stream(model, reply)
            if rec.query.get("alt") == "sse":
                return await self.stream(request, reply, frames)
            docs = [orjson.loads(f[6:].strip()) for f in frames]
            return self.json_response(200, docs, reply)
        body = reply.json_body if reply.json_body is not None else wire.gemini_response(model, reply)
        return self.json_response(200, body, reply)

    async def embed(
        self, request: web.Request, rec: RecordedRequest, model: str, method: str
    ) -> web.StreamResponse:
        reply = self.next_reply()
        if not await self.before_answer(request, reply):
            return _dropped()
        if reply.raw is not None:
            return raw_response(reply.raw)
        if reply.status >= 400:
            return self.json_response(
                reply.status,
                wire.gemini_error(reply.status, reply.error_message or "fake upstream error"),
                reply,
            )
        doc = rec.json
        try:
            if method == "embedContent":
                text = "".join(p.get("text", "") for p in doc["content"]["parts"])
                body: dict[str, Any] = {
                    "embedding": wire.gemini_embedding(text, doc.get("outputDimensionality") or 8)
                }
            else:
                embeddings = []
                for req in doc["requests"]:
                    if req.get("model") != f"models/{model}":
                        msg = (
                            f"Model {req.get('model')!r} in requests does not match the URL's models/{model}"
                        )
                        return self.json_response(400, wire.gemini_error(400, msg))
                    text = "".join(p.get("text", "") for p in req["content"]["parts"])
                    embeddings.append(wire.gemini_embedding(text, req.get("outputDimensionality") or 8))
                body = {"embeddings": embeddings}
        except (KeyError, TypeError):
            return self.json_response(400, wire.gemini_error(400, "Invalid embed request"))
        return self.json_response(200, body, reply)


FAKES: dict[str, type[FakeUpstream]] = {
    "openai": FakeOpenAI,
    "anthropic": FakeAnthropic,
    "gemini": FakeGemini,
}


def main(argv: list[str] | None = None) -> None:
    """Serve one fake upstream in the foreground (for benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m tests.cerebra.fakes.upstreams", description=main.__doc__)
    parser.add_argument("--provider", choices=sorted(FAKES), default="openai")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--events", type=int, default=None, help="content events per stream (default: word by word)"
    )
    parser.add_argument("--pace-ms", type=float, default=0.0, help="gap between stream events, e.g. 1")
    parser.add_argument(
        "--scriptable", action="store_true", help="serve the aiohttp fake instead of the fast one"
    )
    args = parser.parse_args(argv)
    reply = Reply(stream_events=args.events, pace_s=args.pace_ms / 1000)
    if args.scriptable:
        fake = FAKES[args.provider](port=args.port, record=False)
        fake.default = reply

        async def serve() -> None:
            await fake.start_async()
            print(f"fake {args.provider} (scriptable) on {fake.base_url}", flush=True)
            await asyncio.Event().wait()

        asyncio.run(serve())
        return
    from tests.cerebra.fakes.fast import serve_fast

    serve_fast(args.provider, args.host, args.port, reply)


if __name__ == "__main__":
    main()
