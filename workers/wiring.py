"""The wiring: which handler answers which command, which actors react to which event,
and how each actor runs. Read this table to follow any flow.

A command is checked first by `store.prechecks` (the same check the gateway ran when it
accepted it), then handled; its events reach actors through the outbox relay.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.broker import COMMAND_ACTOR, COMMANDS_QUEUE
from events.messages import (
    CatalogCrawled,
    Command,
    CrawlRegistry,
    CrawlRequested,
    CredentialsExpiring,
    CredentialsFailing,
    DeliverWebhook,
    DeliverWebhooks,
    JobSubscribed,
    LinkRegistry,
    RecheckRequested,
    RegistryLinkRequested,
    RegistryUnlinked,
    RegistryUpdated,
    RegistryUpdateFailed,
    RegistryUpdateRequested,
    RegistryVerificationFailed,
    RegistryVerified,
    UnlinkRegistry,
    UpdateRegistry,
)
from workers.registry_commands import (
    CommandHandler,
    link_registry,
    request_crawl,
    unlink_registry,
    update_registry,
)

# command type -> handler                 (pre-check: store.prechecks.PRECHECKS)
COMMANDS: dict[type[Command], CommandHandler] = {
    LinkRegistry: link_registry,  # type: ignore[dict-item]
    UpdateRegistry: update_registry,  # type: ignore[dict-item]
    UnlinkRegistry: unlink_registry,  # type: ignore[dict-item]
    CrawlRegistry: request_crawl,  # type: ignore[dict-item]
}

# event type -> the actors that react to it (an event nobody reacts to is still recorded)
EVENTS: dict[str, tuple[str, ...]] = {
    RegistryLinkRequested.TYPE: ("verify_registry",),
    RegistryVerified.TYPE: ("crawl_registry",),
    RegistryVerificationFailed.TYPE: (),
    CrawlRequested.TYPE: ("crawl_registry",),
    CatalogCrawled.TYPE: (),
    RegistryUpdateRequested.TYPE: ("verify_update",),
    RegistryUpdated.TYPE: ("fan_out", "crawl_registry"),
    RegistryUpdateFailed.TYPE: (),
    RegistryUnlinked.TYPE: ("fan_out",),
    JobSubscribed.TYPE: ("fan_out",),
    CredentialsFailing.TYPE: ("fan_out",),
    CredentialsExpiring.TYPE: ("fan_out",),
    RecheckRequested.TYPE: ("recheck_registry",),
    DeliverWebhook.TYPE: ("deliver_webhook",),  # a dead delivery retried by hand, or redriven
    DeliverWebhooks.TYPE: ("deliver_webhooks",),  # a fan-out's batch
}

DEFAULT_COMMAND_TIME_LIMIT_MS = 60_000  # store work only
DEFAULT_VERIFY_TIME_LIMIT_MS = 180_000  # a few requests, each with its own deadline
DEFAULT_CRAWL_TIME_LIMIT_MS = 3_600_000  # a large catalog takes a while
DEFAULT_SAFETY_RETRIES = 10  # store or broker failures inside a handler


@dataclass(frozen=True)
class ActorOptions:
    """How an actor runs. `max_retries` guards against store or broker failures; network
    handlers count their own tries (a setting) and record the final outcome."""

    queue: str
    time_limit_ms: int
    max_retries: int = DEFAULT_SAFETY_RETRIES
    relay_after: bool = True  # publish what the handler caused without waiting for the poll


# actor -> queue and options
ACTORS: dict[str, ActorOptions] = {
    COMMAND_ACTOR: ActorOptions(queue=COMMANDS_QUEUE, time_limit_ms=DEFAULT_COMMAND_TIME_LIMIT_MS),
    "verify_registry": ActorOptions(queue="verify", time_limit_ms=DEFAULT_VERIFY_TIME_LIMIT_MS),
    "verify_update": ActorOptions(queue="verify", time_limit_ms=DEFAULT_VERIFY_TIME_LIMIT_MS),
    "recheck_registry": ActorOptions(queue="verify", time_limit_ms=DEFAULT_VERIFY_TIME_LIMIT_MS),
    "crawl_registry": ActorOptions(queue="crawl", time_limit_ms=DEFAULT_CRAWL_TIME_LIMIT_MS),
    "fan_out": ActorOptions(
        queue="fanout", time_limit_ms=DEFAULT_COMMAND_TIME_LIMIT_MS, relay_after=False
    ),
    # a batch's deliveries that must wait or be tried again come back one by one
    "deliver_webhooks": ActorOptions(
        queue="deliveries", time_limit_ms=DEFAULT_VERIFY_TIME_LIMIT_MS, relay_after=False
    ),
    # lease waits and send retries both come back through Retry; the row counts sends
    "deliver_webhook": ActorOptions(
        queue="deliveries",
        time_limit_ms=DEFAULT_VERIFY_TIME_LIMIT_MS,
        max_retries=1000,
        relay_after=False,
    ),
}

Route = tuple[str, str]  # (actor, queue)
EVENT_ROUTES: dict[str, tuple[Route, ...]] = {
    kind: tuple((actor, ACTORS[actor].queue) for actor in actors) for kind, actors in EVENTS.items()
}
COMMAND_ROUTE: Route = (COMMAND_ACTOR, COMMANDS_QUEUE)
DELIVER: Route = ("deliver_webhook", ACTORS["deliver_webhook"].queue)  # one delivery, again
DELIVER_BATCH: Route = ("deliver_webhooks", ACTORS["deliver_webhooks"].queue)  # by the fan-out
