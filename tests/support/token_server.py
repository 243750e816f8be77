"""A Docker token-auth server (the registry's ``auth.token`` realm) for integration tests.

Implements enough of the distribution token specs for reglink's verify/crawl paths:

* ``GET /token?service=S&scope=...`` with optional HTTP Basic credentials (docker's flow);
  ``offline_token=true`` also returns a ``refresh_token``.
* ``POST /token`` with a form body, sized or chunked (containers/image chunks it), the OAuth2
  flavour: ``grant_type=password`` (username, password) and ``grant_type=refresh_token``
  (refresh_token); ``access_type=offline`` with the password grant returns a
  ``refresh_token``.

Tokens are RS256 JWTs signed with an RSA key made at start-up. The registry trusts them via a
self-signed certificate written to :attr:`TokenServer.cert_path` (its ``rootcertbundle``).
distribution 2.8 finds the verifying key through the JWT header: either ``kid`` in libtrust
key-id form (see :func:`libtrust_key_id`) or an ``x5c`` chain; both are supported here
(``key_id_mode``). Every request is recorded in :attr:`TokenServer.requests` for assertions.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from tests.support.tls import ServerCertificate

KeyIdMode = Literal["kid", "x5c"]
DEFAULT_ACTIONS = frozenset({"pull", "push", "delete"})


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE requires."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key: rsa.RSAPublicKey) -> str:
    """The libtrust key id distribution 2.8 indexes its trusted keys by.

    SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 (48 chars, no padding),
    split into 12 groups of 4 joined with ``:``.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered (recorded for test assertions)."""

    method: str
    #: ``None`` for docker's GET flow; the form's ``grant_type`` for POST.
    grant_type: str | None
    #: The authenticated (or claimed, when rejected) user name; ``None`` if anonymous.
    username: str | None
    service: str | None
    scopes: tuple[str, ...]
    client_id: str | None
    status: int
    #: Access actually granted: ``((type, name, (actions...)), ...)``.
    granted: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


@dataclass
class AccessPolicy:
    """Who may log in and what they get. Mutable while the server runs."""

    users: dict[str, str] = field(default_factory=dict)
    #: refresh token -> user name.
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    #: users who are NOT granted ``registry:catalog:*``.
    deny_catalog: set[str] = field(default_factory=set)
    #: per-user repository actions; users not listed get :data:`DEFAULT_ACTIONS`.
    repo_actions: dict[str, set[str]] = field(default_factory=dict)
    #: issue (access-less) tokens to requests without credentials, like Docker Hub does.
    allow_anonymous: bool = False
    #: repositories anyone may pull, with an anonymous token (GHCR's public images).
    public: set[str] = field(default_factory=set)

    def grant(self, user: str | None, scope: str) -> tuple[str, str, tuple[str, ...]] | None:
        """Access granted for one ``type:name:actions`` scope, or ``None``."""
        try:
            rtype, rest = scope.split(":", 1)
            name, actions_s = rest.rsplit(":", 1)
        except ValueError:
            return None
        wanted = [a for a in actions_s.split(",") if a]
        if user is None:
            public = rtype == "repository" and name in self.public and "pull" in wanted
            return (rtype, name, ("pull",)) if public else None
        if rtype == "registry" and name == "catalog":
            if user in self.deny_catalog:
                return None
            return (rtype, name, ("*",))
        if rtype == "repository":
            allowed = self.repo_actions.get(user, DEFAULT_ACTIONS)
            actions = tuple(a for a in wanted if a in allowed or "*" in allowed)
            return (rtype, name, actions) if actions else None
        return None


class TokenServer:
    """Threaded stdlib HTTP token server on ``127.0.0.1:<free port>``.

    Start it *before* the registry: the registry's config needs :attr:`realm`,
    :attr:`service`, :attr:`issuer` and :attr:`cert_path`.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        refresh_tokens: dict[str, str] | None = None,
        deny_catalog: Iterable[str] = (),
        repo_actions: dict[str, set[str]] | None = None,
        allow_anonymous: bool = False,
        service: str = "reglink-test-registry",
        issuer: str = "reglink-test-token-server",
        expires_in: int = 300,
        key_id_mode: KeyIdMode = "kid",
        public: Iterable[str] = (),
        tls: ServerCertificate | None = None,
        realm_host: str = "127.0.0.1",
        realm_path: str = "/token",
    ) -> None:
        """``tls`` serves https; the realm is then ``https://{realm_host}:{port}{realm_path}``
        (a provider's own path and a host name the test resolves)."""
        self.policy = AccessPolicy(
            users=dict(users or {}),
            refresh_tokens=dict(refresh_tokens or {}),
            deny_catalog=set(deny_catalog),
            repo_actions=dict(repo_actions or {}),
            allow_anonymous=allow_anonymous,
            public=set(public),
        )
        self.tls = tls
        self.realm_host = realm_host
        self.realm_path = realm_path
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.key_id_mode: KeyIdMode = key_id_mode
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert_path = workdir / "token-ca.pem"
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._cert = self._self_signed_cert()
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self.key_id = libtrust_key_id(self._key.public_key())
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- convenience views on the policy ----------------------------------------------
    @property
    def users(self) -> dict[str, str]:
        return self.policy.users

    @property
    def refresh_tokens(self) -> dict[str, str]:
        return self.policy.refresh_tokens

    @property
    def deny_catalog(self) -> set[str]:
        return self.policy.deny_catalog

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    # -- addresses ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("token server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.realm_host}:{self.port}"

    @property
    def realm(self) -> str:
        """The URL the registry advertises in its ``Bearer realm=...`` challenge."""
        return f"{self.url}{self.realm_path}"

    # -- request log -------------------------------------------------------------------
    @property
    def requests(self) -> list[TokenRequest]:
        """A snapshot of every request served so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def grant_types(self) -> list[str | None]:
        return [r.grant_type for r in self.requests]

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # -- tokens ------------------------------------------------------------------------
    def _self_signed_cert(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reglink test token CA")])
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    def issue_token(
        self,
        subject: str,
        access: Iterable[tuple[str, str, Iterable[str]]] = (),
        *,
        expires_in: int | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> str:
        """Sign a registry JWT. Public so tests can also mint expired/foreign tokens."""
        now = int(time.time())
        header: dict[str, object] = {"typ": "JWT", "alg": "RS256"}
        if self.key_id_mode == "kid":
            header["kid"] = self.key_id
        else:
            header["x5c"] = [
                base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
            ]
        claims = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": audience or self.service,
            "exp": now + (self.expires_in if expires_in is None else expires_in),
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [
                {"type": t, "name": n, "actions": list(actions)} for t, n, actions in access
            ],
        }
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def new_refresh_token(self, user: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        self.policy.refresh_tokens[token] = user
        return token

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> TokenServer:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_TokenHandler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.cert_path, self.tls.key_path)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="token-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _TokenHandler(BaseHTTPRequestHandler):
    server_state: TokenServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request stderr logging; requests are recorded instead."""

    def _send_json(self, status: int, body: dict[str, object], *, basic: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if basic:
            self.send_header("WWW-Authenticate", 'Basic realm="reglink-test-token-server"')
        self.end_headers()
        self.wfile.write(data)

    def _basic_credentials(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def _issue(
        self,
        *,
        method: str,
        grant_type: str | None,
        user: str | None,
        service: str | None,
        scopes: list[str],
        client_id: str | None,
        refresh: bool,
        oauth: bool,
    ) -> None:
        state = self.server_state
        if service is not None and service != state.service:
            self._reject(method, grant_type, user, service, scopes, client_id, 400, "service")
            return
        granted = tuple(g for g in (state.policy.grant(user, s) for s in scopes) if g)
        token = state.issue_token(user or "", granted)
        body: dict[str, object] = {
            "access_token": token,
            "expires_in": state.expires_in,
            "issued_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        if oauth:
            body["scope"] = " ".join(scopes)
        else:
            body["token"] = token
        if refresh and user is not None:
            body["refresh_token"] = state.new_refresh_token(user)
        state._record(
            TokenRequest(method, grant_type, user, service, tuple(scopes), client_id, 200, granted)
        )
        self._send_json(200, body)

    def _reject(
        self,
        method: str,
        grant_type: str | None,
        user: str | None,
        service: str | None,
        scopes: list[str],
        client_id: str | None,
        status: int,
        error: str,
    ) -> None:
        self.server_state._record(
            TokenRequest(method, grant_type, user, service, tuple(scopes), client_id, status)
        )
        body: dict[str, object] = {
            "error": error,
            "errors": [{"code": "UNAUTHORIZED" if status == 401 else "DENIED", "message": error}],
        }
        self._send_json(status, body, basic=status == 401)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server_state.realm_path:
            self._send_json(404, {"error": "not found"})
            return
        query = parse_qs(parts.query)
        service = query.get("service", [None])[0]
        scopes = [s for raw in query.get("scope", []) for s in raw.split(" ") if s]
        client_id = query.get("client_id", [None])[0]
        policy = self.server_state.policy
        creds = self._basic_credentials()
        user: str | None = None
        if creds is not None:
            user, password = creds
            if policy.users.get(user) != password:
                self._reject("GET", None, user, service, scopes, client_id, 401, "invalid_grant")
                return
        elif not policy.allow_anonymous:
            self._reject("GET", None, None, service, scopes, client_id, 401, "unauthorized")
            return
        self._issue(
            method="GET",
            grant_type=None,
            user=user,
            service=service,
            scopes=scopes,
            client_id=client_id,
            refresh=query.get("offline_token", ["false"])[0] == "true" and user is not None,
            oauth=False,
        )

    def _body(self) -> str:
        """The request body, sent with a length or chunked (Go's http client chunks a body
        it cannot size, as containers/image's refresh-token POST is)."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length).decode() if length else ""
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():
            pass  # trailers, up to the blank line
        return b"".join(chunks).decode()

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        raw = self._body()
        if parts.path != self.server_state.realm_path:
            self._send_json(404, {"error": "not found"})
            return
        fields = parse_qs(raw, keep_blank_values=True)
        form = {k: v[0] for k, v in fields.items()}
        grant_type = form.get("grant_type")
        service = form.get("service")
        scopes = [s for raw in fields.get("scope", []) for s in raw.split(" ") if s]
        client_id = form.get("client_id")
        policy = self.server_state.policy
        args = ("POST", grant_type)
        if grant_type == "password":
            user = form.get("username", "")
            if policy.users.get(user) != form.get("password"):
                self._reject(*args, user, service, scopes, client_id, 401, "invalid_grant")
                return
            refresh = form.get("access_type") == "offline"
        elif grant_type == "refresh_token":
            found = policy.refresh_tokens.get(form.get("refresh_token", ""))
            if found is None:
                self._reject(*args, None, service, scopes, client_id, 401, "invalid_grant")
                return
            user, refresh = found, False
        else:
            self._reject(*args, None, service, scopes, client_id, 400, "unsupported_grant_type")
            return
        self._issue(
            method="POST",
            grant_type=grant_type,
            user=user,
            service=service,
            scopes=scopes,
            client_id=client_id,
            refresh=refresh,
            oauth=True,
        )
