"""Which actor answers which message: the one table to read to follow the flow.

The command table lives in `workers.commands.HANDLERS`; this one says where each event
goes once the outbox relay publishes it: (actor name, queue name) per subscriber.
An event with no subscriber yet is still recorded and marked published.
"""

from __future__ import annotations

from events.broker import COMMAND_ACTOR, COMMANDS_QUEUE
from events.messages import (
    CatalogCrawled,
    CrawlRequested,
    CredentialsExpiring,
    CredentialsFailing,
    DeliverWebhook,
    JobSubscribed,
    RecheckRequested,
    RegistryLinkRequested,
    RegistryUnlinked,
    RegistryUpdated,
    RegistryUpdateFailed,
    RegistryUpdateRequested,
    RegistryVerificationFailed,
    RegistryVerified,
)

Route = tuple[str, str]

COMMAND_ROUTE: Route = (COMMAND_ACTOR, COMMANDS_QUEUE)

VERIFY: Route = ("verify_registry", "verify")
CRAWL: Route = ("crawl_registry", "crawl")
VERIFY_UPDATE: Route = ("verify_update", "verify")
FANOUT: Route = ("fan_out", "fanout")
RECHECK: Route = ("recheck_registry", "verify")
DELIVER: Route = ("deliver_webhook", "deliveries")  # enqueued by the fan-out, not the relay

EVENT_ROUTES: dict[str, tuple[Route, ...]] = {
    RegistryLinkRequested.TYPE: (VERIFY,),
    RegistryVerified.TYPE: (CRAWL,),
    RegistryVerificationFailed.TYPE: (),
    CrawlRequested.TYPE: (CRAWL,),
    CatalogCrawled.TYPE: (),
    RegistryUpdateRequested.TYPE: (VERIFY_UPDATE,),
    RegistryUpdated.TYPE: (FANOUT, CRAWL),
    RegistryUpdateFailed.TYPE: (),
    RegistryUnlinked.TYPE: (FANOUT,),
    JobSubscribed.TYPE: (FANOUT,),
    CredentialsFailing.TYPE: (FANOUT,),
    CredentialsExpiring.TYPE: (FANOUT,),
    DeliverWebhook.TYPE: (DELIVER,),
    RecheckRequested.TYPE: (RECHECK,),  # a dead delivery retried by hand
}
