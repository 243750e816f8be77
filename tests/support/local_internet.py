"""Public host names answered by servers on this machine, for reglink only.

reglink's outbound stack takes its resolver and socket opener from
`workers.outbound.internet.Internet`; this one resolves each stood-in name (`ghcr.io`,
`registry-1.docker.io`) to an address of its own in 127.0.0.0/8 (so the guard checks a
real address) and opens every socket to 127.0.0.1, on the port the stand-in listens on
when the name was asked for on 443. Names it does not know do not resolve: nothing leaves
the machine, and neither /etc/hosts nor the system resolver is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import httpcore

from workers.outbound.internet import Internet

LOOPBACK = "127.0.0.1"
_LOCAL_NAMES = ("localhost", LOOPBACK)


class _LoopbackBackend(httpcore.NetworkBackend):
    def __init__(self, owner: LocalInternet) -> None:
        self._owner = owner
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        target = self._owner.port_for(host, port)
        return self._inner.connect_tcp(LOOPBACK, target, timeout, local_address, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class LocalInternet:
    def __init__(self) -> None:
        self._addresses: dict[str, str] = {}
        self._ports: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.backend = _LoopbackBackend(self)

    def serve(self, name: str, port: int, *, as_port: int = 443) -> None:
        """`name:as_port` is answered by the server on 127.0.0.1:`port`."""
        with self._lock:
            address = self._addresses.setdefault(name, f"127.0.0.{len(self._addresses) + 2}")
            self._ports[(address, as_port)] = port

    def resolve(self, host: str, port: int) -> list[str]:
        if host in _LOCAL_NAMES:
            return [LOOPBACK]
        with self._lock:
            address = self._addresses.get(host)
        if address is None:
            raise OSError(f"{host} is not stood in for by a local server in this test")
        return [address]

    def port_for(self, address: str, port: int) -> int:
        with self._lock:
            return self._ports.get((address, port), port)

    def internet(self, roots_pem: str | None = None) -> Internet:
        """For `gateway.bootstrap.bootstrap(..., internet=…)`; `roots_pem` plays the public
        roots (a stand-in for ghcr.io must be trusted without --ca-file)."""
        return Internet(resolver=self.resolve, backend=self.backend, roots_pem=roots_pem)
