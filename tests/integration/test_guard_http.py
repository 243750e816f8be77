"""The guarded client against real servers on loopback: what it reaches, what it refuses,
and that it connects to the address it checked while speaking to the host by name."""

from __future__ import annotations

import gzip
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.faulty import FaultyRegistry, Rule, challenge
from workers.outbound.errors import (
    BlockedAddress,
    PlainHttpRefused,
    ResponseTooLarge,
    Timeout,
    TlsError,
)
from workers.outbound.guard import Guard
from workers.outbound.guarded_http import (
    GuardedClient,
    forbid_redirects,
    make_client,
    read_limited,
)
from workers.outbound.registry_auth import Credentials
from workers.outbound.registry_client import RegistryClient

LIMIT = 1_000_000  # the client's body limit in these tests
HUGE = 10 * 1024 * 1024
DRIP_INTERVAL = 0.1  # seconds between the bytes a slow server sends


@dataclass
class Seen:
    path: str
    host: str | None
    accept_encoding: str | None


@dataclass
class Server:
    """What a local server saw; `base` is its URL by address."""

    base: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    sni: list[str | None] = field(default_factory=list)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    record: Server
    stopping: threading.Event

    def get_request(self) -> tuple[Any, Any]:
        accepted = super().get_request()
        self.record.connections += 1
        return accepted

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up on purpose (limits, deadlines) are not errors here."""


def _write(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def _ok(handler: BaseHTTPRequestHandler) -> None:
    _write(handler, 200, b"hello", Content_Type="text/plain")


def _echo_host(handler: BaseHTTPRequestHandler) -> None:
    _write(handler, 200, (handler.headers.get("Host") or "").encode())


def _redirect(handler: BaseHTTPRequestHandler) -> None:
    target = parse_qs(urlsplit(handler.path).query)["to"][0]
    _write(handler, 302, b"", Location=target)


def _big(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(HUGE))
    handler.end_headers()
    block = b"x" * 65536
    for _ in range(HUGE // len(block)):
        handler.wfile.write(block)


def _chunked_big(handler: BaseHTTPRequestHandler) -> None:
    """10 MB with no Content-Length: only counting the bytes can stop it."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    block = b"y" * 65536
    for _ in range(HUGE // len(block)):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
    handler.wfile.write(b"0\r\n\r\n")


def _gzip_bomb(handler: BaseHTTPRequestHandler) -> None:
    """A few KB on the wire that decode to 10 MB (sent although we asked for identity)."""
    _write(handler, 200, gzip.compress(b"\0" * HUGE), Content_Encoding="gzip")


def _gzip_small(handler: BaseHTTPRequestHandler) -> None:
    _write(handler, 200, gzip.compress(b"small and compressed"), Content_Encoding="gzip")


def _brotli(handler: BaseHTTPRequestHandler) -> None:
    _write(handler, 200, b"not really brotli", Content_Encoding="br")


def _drip_body(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    _drip(handler, b"z" * 1000)


def _drip_headers(handler: BaseHTTPRequestHandler) -> None:
    _drip(handler, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: " + b"p" * 1000)


def _drip(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    stopping: threading.Event = handler.server.stopping  # type: ignore[attr-defined]
    for byte in data:
        if stopping.wait(DRIP_INTERVAL):  # paces the server; the test never sleeps
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


ROUTES: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
    "/ok": _ok,
    "/echo-host": _echo_host,
    "/redirect": _redirect,
    "/big": _big,
    "/chunked-big": _chunked_big,
    "/gzip-bomb": _gzip_bomb,
    "/gzip-small": _gzip_small,
    "/brotli": _brotli,
    "/drip-body": _drip_body,
    "/drip-headers": _drip_headers,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        record: Server = self.server.record  # type: ignore[attr-defined]
        record.seen.append(
            Seen(self.path, self.headers.get("Host"), self.headers.get("Accept-Encoding"))
        )
        route = ROUTES.get(urlsplit(self.path).path)
        try:
            if route is None:
                _write(self, 404, b"")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""


def _serve(host: str, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = _HTTPServer((host, 0), _Handler)
    port = int(httpd.server_address[1])
    scheme = "https" if tls else "http"
    httpd.record = Server(base=f"{scheme}://{host}:{port}", port=port)
    httpd.stopping = threading.Event()
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: httpd.record.sni.append(name)
        httpd.socket = tls.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd.record
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[Server]:
    """A plain http server on 127.0.0.1."""
    yield from _serve("127.0.0.1")


@pytest.fixture
def neighbour() -> Iterator[Server]:
    """A plain http server on 127.0.0.2: reachable on Linux loopback, but not allowed."""
    yield from _serve("127.0.0.2")


def client_for(guard: Guard, **options: Any) -> httpx.Client:
    options.setdefault("timeout", httpx.Timeout(5.0))
    options.setdefault("max_response_bytes", LIMIT)
    return make_client(guard, **options)


def local_guard(**options: Any) -> Guard:
    """Loopback allowed and usable over plain http: the set-up of a local registry."""
    options.setdefault("allowed_networks", ["127.0.0.0/8"])
    options.setdefault("insecure_hosts", ["127.0.0.0/8"])
    return Guard(**options)


def nothing_reached(server: Server) -> bool:
    """True when `server` accepted no connection before this control request of ours."""
    with httpx.Client(trust_env=False) as plain:
        plain.get(f"{server.base}/ok")
    return server.connections == 1 and [s.path for s in server.seen] == ["/ok"]


def pinned(records: dict[str, Sequence[str]], asked: list[str]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(records[host])

    return resolve


def test_allowed_loopback_server_answers(server: Server) -> None:
    guard = Guard(allowed_networks=["127.0.0.0/8"], insecure_hosts=["127.0.0.1"])
    with client_for(guard) as client:
        response = client.get(f"{server.base}/ok")
    assert response.status_code == 200
    assert response.text == "hello"
    assert server.seen[0].accept_encoding == "identity"


def test_loopback_is_blocked_before_any_connection(server: Server) -> None:
    guard = Guard(insecure_hosts=["127.0.0.1"])
    with client_for(guard) as client, pytest.raises(BlockedAddress):
        client.get(f"{server.base}/ok")
    assert nothing_reached(server)


def test_a_lone_post_goes_through_the_same_guard(server: Server) -> None:
    """`post_once` (the webhook fan-out's cheaper path) skips httpx's client layers, not
    the guard: a blocked address is refused before any connection."""
    with client_for(Guard(insecure_hosts=["127.0.0.1"])) as client:
        assert isinstance(client, GuardedClient)
        with pytest.raises(BlockedAddress):
            client.post_once(f"{server.base}/ok", content=b"{}", headers={})
    assert nothing_reached(server)


def test_plain_http_to_an_unlisted_host_is_refused_before_any_connection(
    server: Server,
) -> None:
    guard = Guard(allowed_networks=["127.0.0.0/8"])
    with client_for(guard) as client, pytest.raises(PlainHttpRefused):
        client.get(f"{server.base}/ok")
    assert nothing_reached(server)


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/"]
)
def test_metadata_endpoint_is_blocked_by_default(url: str) -> None:
    guard = Guard(insecure_hosts=["169.254.169.254"])
    with client_for(guard) as client, pytest.raises(BlockedAddress):
        client.get(url)


def test_a_name_resolving_to_the_metadata_endpoint_is_blocked() -> None:
    asked: list[str] = []
    guard = Guard(resolver=pinned({"metadata.test": ["169.254.169.254"]}, asked))
    with client_for(guard) as client, pytest.raises(BlockedAddress):
        client.get("https://metadata.test/latest/meta-data/")
    assert asked == ["metadata.test"]


def test_mixed_records_with_one_denied_address_reach_nothing(server: Server) -> None:
    asked: list[str] = []
    guard = local_guard(
        allowed_networks=["127.0.0.1/32"],
        insecure_hosts=["registry.test"],
        resolver=pinned({"registry.test": ["127.0.0.1", "10.0.0.7"]}, asked),
    )
    with client_for(guard) as client, pytest.raises(BlockedAddress, match=r"10\.0\.0\.7"):
        client.get(f"http://registry.test:{server.port}/ok")
    assert nothing_reached(server)


def test_redirect_to_an_allowed_address_is_followed(server: Server) -> None:
    with client_for(local_guard(), follow_redirects=True) as client:
        response = client.get(f"{server.base}/redirect", params={"to": f"{server.base}/ok"})
    assert (response.status_code, response.text) == (200, "hello")
    assert [r.status_code for r in response.history] == [302]


def test_redirect_to_a_blocked_address_is_refused(server: Server, neighbour: Server) -> None:
    guard = local_guard(allowed_networks=["127.0.0.1/32"])
    with client_for(guard, follow_redirects=True) as client, pytest.raises(BlockedAddress):
        client.get(f"{server.base}/redirect", params={"to": f"{neighbour.base}/ok"})
    assert [s.path.split("?")[0] for s in server.seen] == ["/redirect"]
    assert nothing_reached(neighbour)


def test_redirect_to_plain_http_on_an_unlisted_host_is_refused(
    server: Server, neighbour: Server
) -> None:
    guard = local_guard(insecure_hosts=["127.0.0.1"])
    with client_for(guard, follow_redirects=True) as client, pytest.raises(PlainHttpRefused):
        client.get(f"{server.base}/redirect", params={"to": f"{neighbour.base}/ok"})
    assert nothing_reached(neighbour)


def test_forbidden_redirects_come_back_as_they_are(server: Server) -> None:
    with client_for(local_guard()) as client:
        forbid_redirects(client)
        response = client.get(f"{server.base}/redirect", params={"to": f"{server.base}/ok"})
        assert response.status_code == 302
        with pytest.raises(httpx.TooManyRedirects):
            client.get(
                f"{server.base}/redirect",
                params={"to": f"{server.base}/ok"},
                follow_redirects=True,
            )
    assert [s.path.split("?")[0] for s in server.seen] == ["/redirect", "/redirect"]


@pytest.mark.parametrize("path", ["/big", "/chunked-big", "/gzip-bomb"])
def test_bodies_over_the_limit_are_refused(server: Server, path: str) -> None:
    with client_for(local_guard()) as client, pytest.raises(ResponseTooLarge) as caught:
        client.get(f"{server.base}{path}")
    assert caught.value.reason == "response_too_large"


@pytest.mark.parametrize("path", ["/big", "/chunked-big"])
def test_streamed_bodies_are_held_to_the_limit(server: Server, path: str) -> None:
    with client_for(local_guard()) as client:
        with client.stream("GET", f"{server.base}{path}") as response:
            assert response.status_code == 200  # headers are usable before the body
            with pytest.raises(ResponseTooLarge):
                response.read()
        with (
            client.stream("GET", f"{server.base}/ok") as response,
            pytest.raises(ResponseTooLarge),
        ):
            read_limited(response, 3)
        with client.stream("GET", f"{server.base}/ok") as response:
            assert read_limited(response, 5) == b"hello"


def test_compressed_bodies_are_decoded_under_the_limit(server: Server) -> None:
    with client_for(local_guard()) as client:
        response = client.get(f"{server.base}/gzip-small")
    assert response.content == b"small and compressed"
    assert "content-encoding" not in response.headers


def test_encodings_that_cannot_be_bounded_are_refused(server: Server) -> None:
    with client_for(local_guard()) as client, pytest.raises(httpx.DecodingError):
        client.get(f"{server.base}/brotli")


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_slow_drip_server_cannot_outlast_the_deadline(server: Server, path: str) -> None:
    deadline = 1.0
    # Each byte arrives well within the read timeout; only the deadline can stop this.
    with client_for(local_guard(), deadline=deadline) as client:
        started = time.monotonic()
        with pytest.raises(Timeout) as caught:
            client.get(f"{server.base}{path}")
        elapsed = time.monotonic() - started
    assert caught.value.reason == "timeout"
    assert deadline <= elapsed < deadline + 1.0


def test_the_client_connects_to_the_checked_address_and_keeps_the_host_name(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS pinning: the guard's one lookup decides where the socket goes; any later
    lookup of the name (a rebinding answer) would be refused by the patched resolver."""
    later_lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "registry.test":
            later_lookups.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "a second lookup would be rebindable")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    asked: list[str] = []
    guard = local_guard(
        insecure_hosts=["registry.test"],
        resolver=pinned({"registry.test": ["127.0.0.1"]}, asked),
    )
    with client_for(guard) as client:
        response = client.get(f"http://registry.test:{server.port}/echo-host")
    assert response.text == f"registry.test:{server.port}"
    assert str(response.url) == f"http://registry.test:{server.port}/echo-host"
    assert asked == ["registry.test"]
    assert later_lookups == []


def self_signed(hostname: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for `hostname` only (no IP), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, ssl.SSLContext]]:
    """An https server on 127.0.0.1 whose certificate names registry.test; and a client
    context that trusts that certificate alone."""
    cert_path, key_path = self_signed("registry.test", tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    trust = ssl.create_default_context(cafile=str(cert_path))
    for record in _serve("127.0.0.1", tls=server_context):
        yield record, trust


def test_https_verifies_the_host_name_while_connecting_to_the_pinned_address(
    tls_server: tuple[Server, ssl.SSLContext],
) -> None:
    server, trust = tls_server
    asked: list[str] = []
    guard = Guard(
        allowed_networks=["127.0.0.0/8"],
        resolver=pinned({"registry.test": ["127.0.0.1"]}, asked),
    )
    with client_for(guard, verify=trust) as client:
        response = client.get(f"https://registry.test:{server.port}/echo-host")
        assert response.text == f"registry.test:{server.port}"
        assert server.sni == ["registry.test"]
        # The same server by its address: the certificate does not name it, so it fails.
        with pytest.raises(TlsError, match=re.escape("not valid for '127.0.0.1'")):
            client.get(f"https://127.0.0.1:{server.port}/echo-host")
    assert asked == ["registry.test"]


@pytest.fixture
def other_port() -> Iterator[Server]:
    """A second plain http server on 127.0.0.1, on another port."""
    yield from _serve("127.0.0.1")


def test_an_allowance_with_a_port_refuses_a_redirect_to_another_port(
    server: Server, other_port: Server
) -> None:
    guard = local_guard(allowed_networks=[f"127.0.0.1:{server.port}"])
    with client_for(guard) as client:
        assert client.get(f"{server.base}/ok").status_code == 200
    with client_for(guard, follow_redirects=True) as client, pytest.raises(BlockedAddress):
        client.get(f"{server.base}/redirect", params={"to": f"{other_port.base}/ok"})
    assert nothing_reached(other_port)


def test_an_allowance_with_a_port_refuses_a_bearer_realm_on_another_port(
    other_port: Server,
) -> None:
    """The realm of a token challenge is fetched by the same guarded client: same rule."""
    with FaultyRegistry() as registry:
        realm = f'Bearer realm="{other_port.base}/token",service="r"'
        registry.script = [Rule("GET", "/v2/", challenge(realm))]
        guard = local_guard(allowed_networks=[f"127.0.0.1:{registry.port}"])
        credentials = Credentials("basic", "alice", "alice-pw")
        refused = pytest.raises(BlockedAddress, match=f"port {other_port.port}")
        with client_for(guard, follow_redirects=True) as http, refused:
            RegistryClient(http, registry.url, credentials).ping()
    assert nothing_reached(other_port)
