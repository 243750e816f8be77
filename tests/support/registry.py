"""Run the real CNCF distribution registry (``/usr/bin/docker-registry``) on loopback.

Integration tests need a registry that behaves exactly like the ones reglink meets in the
wild (challenges, pagination Link headers, digests), so we drive the real binary rather than
a fake. Each registry gets its own storage directory, config file and free port under the
test's ``tmp_path``; nothing is shared between tests.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import bcrypt
import httpx

if TYPE_CHECKING:
    from tests.support.tls import ServerCertificate
    from tests.support.token_server import TokenServer

REGISTRY_BINARY = Path(os.environ.get("REGLINK_TEST_REGISTRY_BIN", "/usr/bin/docker-registry"))
AuthMode = Literal["anonymous", "htpasswd", "token"]

#: bcrypt cost used for htpasswd entries. The registry bcrypt-compares on *every* request, so
#: the minimum cost (4) keeps tests fast; the default (12) would cost ~0.2 s per request.
BCRYPT_ROUNDS = 4
STARTUP_TIMEOUT = 10.0
HTPASSWD_REALM = "reglink-test-registry"


#: Registries still running; stopped at interpreter exit so an aborted run leaves no orphans.
_LIVE: weakref.WeakSet[RunningRegistry] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for registry in list(_LIVE):
        registry.stop()


class RegistryStartError(RuntimeError):
    """The registry process did not come up (the message carries its log tail)."""


def free_port() -> int:
    """Return a loopback TCP port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def htpasswd_line(user: str, password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """One ``user:bcrypt-hash`` line; distribution only accepts bcrypt htpasswd entries."""
    if ":" in user:
        raise ValueError("htpasswd user names cannot contain ':'")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    return f"{user}:{hashed}"


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    """Atomically (re)write an htpasswd file so the registry never reads a half-written one.

    The registry reloads the file only when its mtime changes; two writes within one kernel
    clock tick could share an mtime, so the new file's mtime is forced past the old one.
    """
    old_mtime = path.stat().st_mtime_ns if path.exists() else None
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
    os.replace(tmp, path)
    if old_mtime is not None and path.stat().st_mtime_ns <= old_mtime:
        bumped = old_mtime + 1_000_000
        os.utime(path, ns=(bumped, bumped))


class RunningRegistry:
    """A live ``docker-registry serve`` process; stop it with :meth:`stop` or ``with``."""

    def __init__(
        self,
        *,
        workdir: Path,
        port: int,
        auth: AuthMode,
        htpasswd_users: dict[str, str],
        token: TokenServer | None,
        tls: ServerCertificate | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.tls = tls  # serve https with this certificate
        self.ca_file = ca_file  # what the readiness probe trusts
        self.workdir = workdir
        self.port = port
        self.auth: AuthMode = auth
        self.storage_dir = workdir / "storage"
        self.config_path = workdir / "config.yml"
        self.log_path = workdir / "registry.log"
        self.htpasswd_path = workdir / "htpasswd"
        self.htpasswd_users = dict(htpasswd_users)
        self.token = token
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:5123`` (no trailing slash; https with ``tls``)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form used in image references and ``config.json`` auths."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- configuration ---------------------------------------------------------------
    def _config(self) -> dict[str, object]:
        config: dict[str, object] = {
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                # A fixed secret silences the "No HTTP secret provided" warning and keeps
                # upload state valid across restart().
                "secret": self._secret(),
            },
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.tls is not None:
            http = config["http"]
            assert isinstance(http, dict)
            http["tls"] = {
                "certificate": str(self.tls.cert_path),
                "key": str(self.tls.key_path),
            }
        if self.auth == "htpasswd":
            config["auth"] = {
                "htpasswd": {"realm": HTPASSWD_REALM, "path": str(self.htpasswd_path)}
            }
        elif self.auth == "token":
            if self.token is None:
                raise ValueError("auth='token' needs a running TokenServer (token=...)")
            config["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": self.token.service,
                    "issuer": self.token.issuer,
                    "rootcertbundle": str(self.token.cert_path),
                }
            }
        return config

    def _secret(self) -> str:
        secret_path = self.workdir / "http-secret"
        if not secret_path.exists():
            secret_path.write_text(secrets.token_hex(16))
        return secret_path.read_text()

    def _write_files(self) -> None:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.auth == "htpasswd":
            write_htpasswd(self.htpasswd_path, self.htpasswd_users)
        # YAML is a superset of JSON, so no YAML library is needed.
        self.config_path.write_text(json.dumps(self._config(), indent=2))

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> RunningRegistry:
        """Write config, spawn the binary and block until ``GET /v2/`` answers."""
        if self.running():
            return self
        self._write_files()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(REGISTRY_BINARY), "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        _LIVE.add(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        delay = 0.01
        verify: bool | ssl.SSLContext = True
        if self.tls is not None:
            verify = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else False
        with httpx.Client(timeout=1.0, verify=verify) as client:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise RegistryStartError(
                        f"docker-registry exited with {self._proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    resp = client.get(f"{self.url}/v2/")
                except httpx.TransportError:
                    pass
                else:
                    if resp.status_code in (200, 401):
                        return
                if time.monotonic() >= deadline:
                    self.stop()
                    raise RegistryStartError(
                        f"docker-registry not ready after {STARTUP_TIMEOUT}s:\n{self.log_tail()}"
                    )
                # Bounded exponential back-off while the process binds its port.
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 5 s) and reap it. Idempotent."""
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> RunningRegistry:
        """Stop and start again on the same port and storage (re-reads config/cert bundle)."""
        self.stop()
        return self.start()

    def set_password(self, user: str, password: str) -> None:
        """Add or change an htpasswd user.

        distribution 2.8 re-reads the htpasswd file whenever its mtime changes (checked on
        each request), so this takes effect on the next request without a restart.
        """
        self._require_htpasswd()
        self.htpasswd_users[user] = password
        write_htpasswd(self.htpasswd_path, self.htpasswd_users)

    def remove_user(self, user: str) -> None:
        """Delete an htpasswd user (picked up on the next request, like :meth:`set_password`)."""
        self._require_htpasswd()
        self.htpasswd_users.pop(user, None)
        write_htpasswd(self.htpasswd_path, self.htpasswd_users)

    def _require_htpasswd(self) -> None:
        if self.auth != "htpasswd":
            raise ValueError(f"registry uses auth={self.auth!r}, not htpasswd")

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the registry's combined stdout/stderr, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningRegistry(url={self.url!r}, auth={self.auth!r}, pid={self.pid})"


def start_registry(
    tmp_path: Path,
    *,
    auth: AuthMode = "anonymous",
    htpasswd_users: dict[str, str] | None = None,
    token: TokenServer | None = None,
    name: str = "registry",
    tls: ServerCertificate | None = None,
    ca_file: Path | None = None,
) -> RunningRegistry:
    """Start a registry whose files live in ``tmp_path / name``; returns once it serves.

    A free port can be taken by someone else between probing and binding, so a start that
    dies early is retried on a new port a few times.
    """
    if auth not in ("anonymous", "htpasswd", "token"):
        raise ValueError(f"unknown auth mode {auth!r}")
    if auth == "htpasswd" and not htpasswd_users:
        raise ValueError("auth='htpasswd' needs htpasswd_users")
    workdir = tmp_path / name
    workdir.mkdir(parents=True, exist_ok=True)
    last_error: RegistryStartError | None = None
    for _ in range(3):
        registry = RunningRegistry(
            workdir=workdir,
            port=free_port(),
            auth=auth,
            htpasswd_users=htpasswd_users or {},
            token=token,
            tls=tls,
            ca_file=ca_file,
        )
        try:
            return registry.start()
        except RegistryStartError as exc:
            if "address already in use" not in str(exc):
                raise
            last_error = exc
    assert last_error is not None
    raise last_error
