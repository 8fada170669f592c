"""The benchmark baseline: a minimal HTTP/1.1 keep-alive server (raw asyncio protocol, uvloop when
installed) answering every provider's chat, stream and embeddings paths with precomputed bytes."""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from tests.cerebra.fakes import wire
from tests.cerebra.fakes.wire import Reply

_AUTH_HEADERS = {
    "openai": (b"\r\nauthorization: bearer ", b"\r\napi-key:"),
    "anthropic": (b"\r\nx-api-key:",),
    "gemini": (b"\r\nx-goog-api-key:", b"key="),
}


def _http(status: str, content_type: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n" % (
        status.encode(),
        content_type,
        len(body),
    )
    return head + body


_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _content_length(head: bytes) -> int:
    i = head.find(b"\r\ncontent-length:")
    if i < 0:
        return 0
    j = head.find(b"\r\n", i + 2)
    return int(head[i + 17 : j if j > 0 else None])


def _chunk(frame: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(frame), frame)


class _Answers:
    """Every response of one provider, built once."""

    def __init__(self, provider: str, reply: Reply) -> None:
        self.provider = provider
        self.pace_s = reply.pace_s
        model = "fake-model"
        if provider == "openai":
            chat = wire.openai_completion(model, reply)
            self.stream_frames = wire.openai_stream(model, reply, include_usage=False)
            self.usage_frames = wire.openai_stream(model, reply, include_usage=True)
            unauthorized = wire.openai_error(401, "You didn't provide an API key.")
        elif provider == "anthropic":
            chat = wire.anthropic_message(model, reply)
            self.stream_frames = self.usage_frames = wire.anthropic_stream(model, reply)
            unauthorized = wire.anthropic_error(401, "x-api-key header is required")
        else:
            chat = wire.gemini_response(model, reply)
            self.stream_frames = self.usage_frames = wire.gemini_stream(model, reply)
            unauthorized = wire.gemini_error(403, "Method doesn't allow unregistered callers.")
        self.chat = _http("200 OK", b"application/json", orjson.dumps(chat))
        self.stream = _STREAM_HEAD + b"".join(map(_chunk, self.stream_frames)) + b"0\r\n\r\n"
        self.usage_stream = _STREAM_HEAD + b"".join(map(_chunk, self.usage_frames)) + b"0\r\n\r\n"
        status = "403 Forbidden" if provider == "gemini" else "401 Unauthorized"
        self.unauthorized = _http(status, b"application/json", orjson.dumps(unauthorized))
        self.not_found = _http("404 Not Found", b"application/json", b'{"error":{"message":"not found"}}')
        self.auth_markers = _AUTH_HEADERS[provider]

    def route(self, target: bytes, body: bytes) -> tuple[bytes | None, list[bytes] | None]:
        """(whole response, or None and the frames of a paced stream)."""
        path = target.split(b"?", 1)[0]
        if self.provider == "gemini":
            if path.endswith(b":streamGenerateContent"):
                return self._stream(self.stream_frames, self.stream)
            if path.endswith(b":generateContent"):
                return self.chat, None
            if path.endswith((b":embedContent", b":batchEmbedContents")):
                return self._gemini_embed(body), None
            return self.not_found, None
        if path.endswith(b"/embeddings"):
            return self._openai_embed(body), None
        if path.endswith((b"/chat/completions", b"/v1/messages")):
            if b'"stream":true' in body or b'"stream": true' in body:
                if b'"include_usage":true' in body or b'"include_usage": true' in body:
                    return self._stream(self.usage_frames, self.usage_stream)
                return self._stream(self.stream_frames, self.stream)
            return self.chat, None
        return self.not_found, None

    def _stream(self, frames: list[bytes], whole: bytes) -> tuple[bytes | None, list[bytes] | None]:
        return (None, frames) if self.pace_s else (whole, None)

    @staticmethod
    def _openai_embed(body: bytes) -> bytes:
        doc = orjson.loads(body)
        inputs = doc.get("input")
        inputs = [inputs] if isinstance(inputs, str) else [str(x) for x in inputs or [""]]
        out = wire.openai_embeddings(
            "fake-model", inputs, doc.get("dimensions") or 8, doc.get("encoding_format")
        )
        return _http("200 OK", b"application/json", orjson.dumps(out))

    @staticmethod
    def _gemini_embed(body: bytes) -> bytes:
        doc = orjson.loads(body)
        if "requests" in doc:
            out: dict = {"embeddings": [wire.gemini_embedding(str(r), 8) for r in doc["requests"]]}
        else:
            out = {"embedding": wire.gemini_embedding(str(doc.get("content")), 8)}
        return _http("200 OK", b"application/json", orjson.dumps(out))


class _Protocol(asyncio.Protocol):
    __slots__ = ("answers", "transport", "buf", "busy")

    def __init__(self, answers: _Answers) -> None:
        self.answers = answers
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        answers = self.answers
        while self.transport is not None:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = buf[:end].lower()
            length = _content_length(head)
            if len(buf) < end + 4 + length:
                return
            body = buf[end + 4 : end + 4 + length]
            self.buf = buf[end + 4 + length :]
            close = b"\r\nconnection: close" in head
            if any(marker in head for marker in answers.auth_markers):
                whole, frames = answers.route(buf[:end].split(b" ", 2)[1], body)
            else:
                whole, frames = answers.unauthorized, None
            if frames is not None:
                self.busy = True
                asyncio.get_running_loop().create_task(self._paced(frames, close))
                return
            self.transport.write(whole)  # type: ignore[arg-type]
            if close:
                self.transport.close()
                return

    async def _paced(self, frames: list[bytes], close: bool) -> None:
        try:
            transport = self.transport
            if transport is None:
                return
            transport.write(_STREAM_HEAD)
            for frame in frames:
                await asyncio.sleep(self.answers.pace_s)
                if self.transport is None:
                    return
                transport.write(_chunk(frame))
            transport.write(b"0\r\n\r\n")
            if close:
                transport.close()
        finally:
            self.busy = False
        if self.buf:
            self._process()


async def start_fast(provider: str, host: str, port: int, reply: Reply | None = None) -> asyncio.Server:
    answers = _Answers(provider, reply or Reply())
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Protocol(answers), host, port, backlog=1024)


def serve_fast(provider: str, host: str, port: int, reply: Reply | None = None) -> None:
    """Serve forever in the foreground (uvloop when available)."""

    async def run() -> None:
        server = await start_fast(provider, host, port, reply)
        bound = server.sockets[0].getsockname()[1]
        print(f"fast fake {provider} on http://{host}:{bound}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        if uvloop is not None:
            uvloop.run(run())
        else:
            asyncio.run(run())
