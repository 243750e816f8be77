"""Which registry failures are recorded and which come back later.

Handlers record a permanent failure, or a transient one on their last try; a transient
failure with tries left is raised again, and the actor layer (`workers.actors`) turns it
into a retry with backoff. One policy, in one place, for every network handler.
"""

from __future__ import annotations

from store.lifecycle import Failure
from workers.outbound.errors import OutboundError


def failure_or_retry(exc: OutboundError, final: bool) -> Failure:
    if exc.transient and not final:
        raise exc
    return Failure(exc.reason, str(exc))
