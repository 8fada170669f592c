"""aegis.kube.wire against scripted HTTP/1.1 servers on loopback (plain and TLS): keep-alive reuse, one
write per request, chunked and gzip bodies, Connection: close, and idle connections the server closed."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.client import ApiClient, Configuration

from aegis.kube.transport import KubeTransport
from aegis.kube.wire import ConnectFailed, WirePool, wire_pool_for


class _Scripted(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[str, str, bytes]] = []
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def drop_idle_connections(self) -> None:
        """Close every connection from the server's side, as an API server does with idle ones."""
        with self.lock:
            sockets, self.open = self.open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(socketserver.BaseRequestHandler):
    server: _Scripted

    def handle(self) -> None:
        sock = self.request
        if self.server.tls is not None:
            sock = self.server.tls.wrap_socket(sock, server_side=True)
        try:
            self._serve(sock)
        finally:
            sock.close()

    def _serve(self, sock: socket.socket) -> None:
        with self.server.lock:
            self.server.connections += 1
            self.server.open.append(sock)
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                buffer += sock.recv(65536)
            body, buffer = buffer[:length], buffer[length:]
            with self.server.lock:
                self.server.requests.append((method, path, body))
            response, close = _answer(method, path, headers, body)
            sock.sendall(response)
            if close:
                return


def _answer(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[bytes, bool]:
    if path == "/chunked":
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            False,
        )
    if path == "/gzip":
        data = gzip.compress(b'{"zipped": true}')
        head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(data)}\r\n\r\n"
        return head.encode() + data, False
    if path == "/until-eof":
        return b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"to": "the end"}', True
    if path == "/close":
        return (
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 0\r\nContent-Length: 2\r\n\r\n{}",
            True,
        )
    data = orjson.dumps(
        {"method": method, "path": path, "body": body.decode(), "auth": headers.get("authorization")}
    )
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Seen: 1\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data, False


@pytest.fixture
def server() -> Iterator[_Scripted]:
    srv = _Scripted()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def test_keep_alive_reuses_one_connection_and_reads_every_kind_of_body(server: _Scripted) -> None:
    pool = WirePool("http", "127.0.0.1", server.port, ssl_context=None, server_hostname=None, maxsize=2)
    try:
        for i in range(5):
            status, headers, data = pool.request(_request("POST", f"/o/{i}", b'{"n": 1}'), 5, 5)
            assert (
                status == 200
                and headers["x-seen"] == "1"
                and headers.get("Content-Type") == "application/json"
            )
            assert orjson.loads(data)["path"] == f"/o/{i}" and orjson.loads(data)["body"] == '{"n": 1}'
        assert pool.request(_request("GET", "/chunked"), 5, 5)[2] == b"hello world"
        assert orjson.loads(pool.request(_request("GET", "/gzip"), 5, 5)[2]) == {"zipped": True}
        assert server.connections == 1 and len(server.requests) == 7
    finally:
        pool.close()


def test_connection_close_and_idle_connections_the_server_dropped(server: _Scripted) -> None:
    pool = WirePool("http", "127.0.0.1", server.port, ssl_context=None, server_hostname=None, maxsize=4)
    try:
        status, headers, _ = pool.request(_request("GET", "/close"), 5, 5)
        assert status == 503 and headers["retry-after"] == "0"
        # Not on the closed connection: a new one; its answer has no length and ends with the connection.
        assert pool.request(_request("GET", "/until-eof"), 5, 5)[2] == b'{"to": "the end"}'
        pool.request(_request("GET", "/x"), 5, 5)
        assert server.connections == 3

        server.drop_idle_connections()
        # A create after the server dropped the idle connection goes out on a fresh one, never lost.
        status, _, data = pool.request(_request("POST", "/after-drop", b"{}"), 5, 5)
        assert status == 200 and orjson.loads(data)["path"] == "/after-drop"
        assert server.connections == 4
    finally:
        pool.close()


def test_unreachable_server_is_a_connect_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connection refused
        pool = WirePool("http", "127.0.0.1", port, ssl_context=None, server_hostname=None, maxsize=1)
        with pytest.raises(ConnectFailed):
            pool.request(_request("GET", "/"), 1, 1)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "server.crt", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_from_the_client_configuration_keeps_its_connection(tmp_path: Path) -> None:
    """TLS set up from the official client's Configuration (its CA file): one connection kept alive;
    without the CA the self-signed certificate is refused."""
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    srv = _Scripted(tls)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    configuration: Any = Configuration()
    configuration.host = f"https://127.0.0.1:{srv.port}"
    configuration.ssl_ca_cert = str(cert)
    configuration.api_key = {"authorization": "Bearer t0ken"}
    try:
        with ApiClient(configuration) as api:
            transport = KubeTransport(api)
            assert transport.wire is not None
            for i in range(4):
                answer = transport.request("PUT", f"/api/v1/x/{i}", body={"i": i}).json()
                assert answer["path"] == f"/api/v1/x/{i}" and answer["auth"] == "Bearer t0ken"
            assert srv.connections == 1

            untrusted: Any = Configuration()
            untrusted.host = configuration.host  # no CA given: the self-signed certificate is refused
            refusing = wire_pool_for(untrusted)
            assert refusing is not None
            with pytest.raises(ssl.SSLCertVerificationError):
                refusing.request(_request("GET", "/"), 5, 5)
            refusing.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_configurations_the_wire_does_not_cover_keep_urllib3() -> None:
    proxied: Any = Configuration()
    proxied.host, proxied.proxy = "https://10.0.0.1:6443", "http://proxy:3128"
    assert wire_pool_for(proxied) is None
    prefixed: Any = Configuration()
    prefixed.host = "https://rancher.example.com/k8s/clusters/c-1"
    assert wire_pool_for(prefixed) is None
