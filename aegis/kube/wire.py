"""Lean keep-alive HTTP/1.1 to one API server: one ``sendall`` per request, responses parsed by httptools.

Why not urllib3 for every request: on a restore, urllib3 and http.client cost about 0.35-0.41 ms of
client CPU per request (building the request header by header, an ``email`` parser for the response
headers, the pool manager's URL parsing and keying), against 0.12 ms for the same exchange on the
same TLS socket written in one piece and parsed by httptools (llhttp, the parser of Node.js and
uvicorn). On two cores shared with the API server that difference is what separates a restore
limited by the server from one limited by its own client. The TLS settings are the official
client's (``Configuration``: CA, client certificate, verification, TLS server name); a configuration
this module does not cover (a proxy, ``assert_hostname``) keeps the client's urllib3 pool
(:func:`wire_pool_for` returns None).

Thread-safe: idle connections are kept in a LIFO list (at most ``maxsize``), each used by one
request at a time; a connection the server closed while idle is noticed before reuse and dropped.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httptools
import urllib3

_RECV = 64 * 1024


class ConnectFailed(OSError):
    """No TCP connection could be made: nothing was sent, so any request may be sent again."""


class ResponseHeaders(Mapping[str, str]):
    """Response headers, looked up without regard to case; decoded on first look-up (most responses
    are never asked: decoding every header of every answer cost more than the rest of the parse)."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._decoded is None:
            decoded: dict[str, str] = {}
            for name, value in self._raw:
                key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                decoded[key] = f"{decoded[key]}, {text}" if key in decoded else text
            self._decoded = decoded
        return self._decoded

    def __getitem__(self, key: str) -> str:
        return self._headers()[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def raw(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), undecoded."""
        for key, value in self._raw:
            if key.lower() == name:
                return value
        return None


class _Exchange:
    """httptools callbacks for one response."""

    __slots__ = ("body", "complete", "keep_alive", "parser", "raw_headers", "status")

    def __init__(self) -> None:
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False
        self.status = 0
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        if parser is not None:
            self.status = parser.get_status_code()

    def ends_at_close(self) -> bool:
        """Headers read, and neither Content-Length nor chunked: the body runs to the end of the stream."""
        names = {name.lower() for name, _ in self.raw_headers}
        return bool(self.status) and b"content-length" not in names and b"transfer-encoding" not in names

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        # Asked here: once the callback returns the parser starts over on a next message.
        parser = self.parser
        if parser is not None:
            self.keep_alive = parser.should_keep_alive()
            self.status = parser.get_status_code()
        self.complete = True


class _Connection:
    __slots__ = ("poller", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.poller = select.poll()  # kept: one poll(2) per reuse, no set-up
        self.poller.register(sock, select.POLLIN)

    def exchange(self, request: bytes) -> tuple[int, ResponseHeaders, bytes, bool]:
        """Send one request, read its whole response: (status, headers, body, keep the connection)."""
        self.sock.sendall(request)
        exchange = _Exchange()
        parser = exchange.parser = httptools.HttpResponseParser(exchange)
        try:
            while not exchange.complete:
                chunk = self.sock.recv(_RECV)
                if not chunk:
                    if exchange.ends_at_close():
                        break  # a body without length or chunks ends where the connection does
                    raise urllib3.exceptions.ProtocolError("connection closed before the response ended")
                try:
                    parser.feed_data(chunk)
                except httptools.HttpParserError as exc:
                    raise urllib3.exceptions.ProtocolError(f"bad HTTP response: {exc}") from None
        finally:
            exchange.parser = None  # the parser holds the exchange: no cycle left for the GC to find
        data = b"".join(exchange.body)
        exchange.body.clear()
        headers = ResponseHeaders(exchange.raw_headers)
        if headers.raw(b"content-encoding") in (b"gzip", b"deflate"):
            data = zlib.decompress(data, zlib.MAX_WBITS | 32)
        return exchange.status, headers, data, exchange.keep_alive

    def alive(self) -> bool:
        """Still usable after idling? Readable means the server closed it, or sent TLS records that
        carry no data (TLS 1.3 may deliver session tickets late): a non-blocking read tells them apart."""
        if not self.poller.poll(0):
            return True
        self.sock.settimeout(0.0)
        try:
            self.sock.recv(1)  # b"": closed; bytes: an answer nobody asked for (drop it too)
            return False
        except (ssl.SSLWantReadError, BlockingIOError):
            return True  # only non-data records, now consumed
        except OSError:
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class WirePool:
    """Keep-alive connections to one ``scheme://host:port``."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        maxsize: int,
    ) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal goes in brackets
        self.host_header = name if port == (443 if scheme == "https" else 80) else f"{name}:{port}"
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self.maxsize = max(1, maxsize)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self, request: bytes, connect_timeout: float | None, read_timeout: float | None
    ) -> tuple[int, ResponseHeaders, bytes]:
        """One exchange on an idle connection (or a new one). Raises OSError (ConnectFailed when the
        server could not be reached) or urllib3's ProtocolError for a broken response."""
        connection = self._take()
        if connection is None:
            connection = self._connect(connect_timeout)
        try:
            connection.sock.settimeout(read_timeout)
            status, headers, data, keep = connection.exchange(request)
        except BaseException:
            connection.close()
            raise
        if keep:
            self._give(connection)
        else:
            connection.close()
        return status, headers, data

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self) -> _Connection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if connection.alive():
                return connection
            connection.close()

    def _give(self, connection: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.maxsize:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, timeout: float | None) -> _Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise ConnectFailed(f"failed to connect to {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)


def wire_pool_for(configuration: Any) -> WirePool | None:
    """A pool for the official client's ``Configuration``, or None when it needs what only urllib3 does."""
    if getattr(configuration, "proxy", None) or isinstance(
        getattr(configuration, "assert_hostname", None), str
    ):
        return None
    url = urlsplit(str(configuration.host))
    if url.scheme not in ("http", "https") or not url.hostname or url.path.strip("/"):
        return None
    context: ssl.SSLContext | None = None
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif configuration.assert_hostname is False:
            context.check_hostname = False
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    port = url.port or (443 if url.scheme == "https" else 80)
    return WirePool(
        url.scheme,
        url.hostname,
        port,
        ssl_context=context,
        server_hostname=getattr(configuration, "tls_server_name", None),
        maxsize=int(getattr(configuration, "connection_pool_maxsize", None) or 4),
    )
