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
    RegistryLinkRequested,
    RegistryUnlinked,
    RegistryVerificationFailed,
    RegistryVerified,
)

Route = tuple[str, str]

COMMAND_ROUTE: Route = (COMMAND_ACTOR, COMMANDS_QUEUE)

VERIFY: Route = ("verify_registry", "verify")
CRAWL: Route = ("crawl_registry", "crawl")

EVENT_ROUTES: dict[str, tuple[Route, ...]] = {
    RegistryLinkRequested.TYPE: (VERIFY,),
    RegistryVerified.TYPE: (CRAWL,),
    RegistryVerificationFailed.TYPE: (),
    CrawlRequested.TYPE: (CRAWL,),
    CatalogCrawled.TYPE: (),
    RegistryUnlinked.TYPE: (),
}
