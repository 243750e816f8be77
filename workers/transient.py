"""Which registry failures are recorded and which come back later, and the probe every
verification step runs.

Handlers record a permanent failure, or a transient one on their last try; a transient
failure with tries left is raised again, and the actor layer (`workers.actors`) turns it
into a retry with backoff. One policy, in one place, for every network handler.
"""

from __future__ import annotations

import time

from store.lifecycle import Failure
from store.targets import Target
from workers.metrics import VERIFY_DURATION
from workers.outbound.errors import OutboundError
from workers.outbound.registry_client import ClientFactory, Credentials


def failure_or_retry(exc: OutboundError, final: bool) -> Failure:
    if exc.transient and not final:
        raise exc
    return Failure(exc.reason, str(exc))


def probe(clients: ClientFactory, target: Target, final: bool) -> tuple[str | None, Failure | None]:
    """Check the target's URL and credentials (`RegistryClient.check`): whether its catalog
    lists, or the failure to record; a transient failure with tries left is raised."""
    started = time.perf_counter()
    try:
        credentials = Credentials(target.auth, target.username, target.secret)
        catalog = clients(target.url, credentials, target.ca_pem).check()
    except OutboundError as exc:
        VERIFY_DURATION.labels(exc.reason).observe(time.perf_counter() - started)
        return None, failure_or_retry(exc, final)
    VERIFY_DURATION.labels("verified").observe(time.perf_counter() - started)
    return catalog, None
