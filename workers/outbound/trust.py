"""Which certificates a registry's TLS may chain to: the public roots, plus the private CA
its owner gave (`--ca-file`), trusted for that registry alone.

A connection pool verifies with one SSL context, so each private CA gets a guarded client
of its own, built on first use and kept for the next requests (a crawl, the next check).
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable

import httpx

DEFAULT_MAX_CA_CLIENTS = 64  # clients kept for private CAs; the least used is let go


def ssl_context(*bundles: str | None) -> ssl.SSLContext:
    """The public roots (certifi, as httpx uses) plus every PEM bundle given."""
    context = httpx.create_ssl_context()
    for pem in bundles:
        if pem:
            context.load_verify_locations(cadata=pem)
    return context


class ClientsByCa:
    """The guarded client for a registry: the shared one, or its private CA's."""

    def __init__(
        self,
        build: Callable[[ssl.SSLContext], httpx.Client],
        *,
        roots_pem: str | None = None,
        max_clients: int = DEFAULT_MAX_CA_CLIENTS,
    ) -> None:
        self._build = build
        self._roots_pem = roots_pem
        self._max = max_clients
        self._shared = build(ssl_context(roots_pem))
        self._clients: OrderedDict[str, httpx.Client] = OrderedDict()
        self._lock = threading.Lock()

    def client(self, ca_pem: str | None = None) -> httpx.Client:
        if not ca_pem:
            return self._shared
        key = hashlib.sha256(ca_pem.encode()).hexdigest()
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._build(ssl_context(self._roots_pem, ca_pem))
                self._clients[key] = found
                if len(self._clients) > self._max:
                    # not closed: a crawl may still hold it; its pool closes when let go
                    self._clients.popitem(last=False)
            self._clients.move_to_end(key)
            return found
