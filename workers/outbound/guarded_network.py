"""The socket layer of the guarded client: resolve once, check, connect to what was checked.

httpcore hands the network backend the URL's host name; `GuardedBackend` resolves it through
the guard (every address checked) and opens the socket to a checked address. httpcore keeps
using the name for TLS (SNI, certificate verification) and the Host header, so nothing
resolves the name a second time: no DNS rebinding between the check and the connect.

Every socket operation also stops at the running request's deadline (`deadline_scope`), so a
server that drips one byte at a time cannot hold a worker past it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore

from workers.outbound.errors import Timeout
from workers.outbound.guard import Guard

# When the request that is running must be finished (time.monotonic()), or None.
_deadline: ContextVar[float | None] = ContextVar("reglink_outbound_deadline", default=None)


@contextmanager
def deadline_scope(deadline: float) -> Iterator[None]:
    """Socket operations inside the block stop at `deadline` (a time.monotonic() value)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    return _deadline.get()


def _budget(timeout: float | None) -> tuple[float | None, bool]:
    """The timeout for one socket operation, and whether the deadline shortened it."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout, False
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Timeout("the request ran past its deadline")
    if timeout is None or remaining < timeout:
        return remaining, True
    return timeout, False


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write also stops at the request's deadline, so a
    server dripping one byte at a time cannot hold a worker past it."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit, clipped = _budget(timeout)
        try:
            return self._stream.read(max_bytes, limit)
        except httpcore.ReadTimeout:
            if clipped:
                raise Timeout("the request ran past its deadline") from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit, clipped = _budget(timeout)
        try:
            self._stream.write(buffer, limit)
        except httpcore.WriteTimeout:
            if clipped:
                raise Timeout("the request ran past its deadline") from None
            raise

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit, clipped = _budget(timeout)
        try:
            return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, limit))
        except httpcore.ConnectTimeout:
            if clipped:
                raise Timeout("the request ran past its deadline") from None
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves and checks the host itself, then connects to a checked address."""

    def __init__(self, guard: Guard, inner: httpcore.NetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.resolve(host, port)  # BlockedAddress before any connect
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            limit, clipped = _budget(timeout)
            try:
                stream = self._inner.connect_tcp(
                    str(address), port, limit, local_address, socket_options
                )
            except httpcore.ConnectTimeout as exc:
                if clipped:
                    raise Timeout("the request ran past its deadline") from None
                failure = exc
            except httpcore.ConnectError as exc:
                failure = exc
            else:
                return _DeadlineStream(stream)
        assert failure is not None  # resolve() never returns an empty list
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the guard")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
