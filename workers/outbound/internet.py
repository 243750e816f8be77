"""Where outbound requests go: how names resolve, how sockets open, which roots are trusted.

The system's, by default. Tests stand local servers in for public registries (`ghcr.io`,
`registry-1.docker.io` answered by a loopback registry under a test CA) through this one
seam, without touching the machine's resolver, hosts file or trust store.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpcore

from workers.outbound.guard import Resolver, system_resolver


@dataclass(frozen=True)
class Internet:
    resolver: Resolver = system_resolver
    backend: httpcore.NetworkBackend | None = None  # opens sockets to checked addresses
    roots_pem: str | None = None  # CA certificates trusted for every host, beside the public ones
