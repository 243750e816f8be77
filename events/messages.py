"""Every command and event reglink sends: small frozen types, ids and JSON values only.

Commands are orders (`LinkRegistry`); events are facts in the past tense
(`RegistryLinkRequested`). No field ever holds a plaintext secret: credentials travel
as `sealed_secret`, sealed to the workers' public key (see `events.sealing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

AuthType = Literal["anonymous", "basic", "oauth2"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]


class Command(Message):
    OWNER_ONLY: ClassVar[bool] = True  # members may view; only owners change things
    project: str
    name: str


class LinkRegistry(Command):
    TYPE = "reglink.command.link"
    url: str
    description: str = ""
    auth: AuthType = "anonymous"
    username: str | None = None
    sealed_secret: str | None = None
    repositories: tuple[str, ...] = ()
    expires_at: datetime | None = None
    ca_pem: str | None = None  # PEM certificates the registry's TLS chains to (a private CA)


class UpdateRegistry(Command):
    """Fields left `None` keep their current value (`ca_pem` "" drops the CA); the secret
    is write-only."""

    TYPE = "reglink.command.update"
    new_name: str | None = None
    url: str | None = None
    description: str | None = None
    auth: AuthType | None = None
    username: str | None = None
    sealed_secret: str | None = None
    repositories: tuple[str, ...] | None = None
    expires_at: datetime | None = None
    ca_pem: str | None = None
    expected_version: int | None = None


class UnlinkRegistry(Command):
    TYPE = "reglink.command.unlink"
    force: bool = False


class CrawlRegistry(Command):
    """Refresh the browsable catalog now, without waiting for the next scheduled crawl."""

    TYPE = "reglink.command.crawl"
    OWNER_ONLY = False


class RegistryEvent(Message):
    project: str
    registry_id: str
    name: str
    version: int


class RegistryLinkRequested(RegistryEvent):
    """A registry was recorded `pending`; the verify actor takes it from here."""

    TYPE = "reglink.registry.link_requested"
    url: str


class RegistryUnlinked(RegistryEvent):
    """The registry left the project; build jobs must drop it."""

    TYPE = "reglink.registry.unlinked"


class RegistryVerified(RegistryEvent):
    """URL and credentials work; `catalog` says whether the registry lists its catalog."""

    TYPE = "reglink.registry.verified"
    catalog: Literal["supported", "unsupported"]


class RegistryVerificationFailed(RegistryEvent):
    TYPE = "reglink.registry.verification_failed"
    reason: str
    message: str


class CrawlRequested(RegistryEvent):
    TYPE = "reglink.registry.crawl_requested"


class CatalogCrawled(RegistryEvent):
    """A new catalog snapshot is in place. Tag lists are `repository:tag`, capped at
    `DEFAULT_MAX_CHANGES` each; the counts are always complete."""

    TYPE = "reglink.registry.catalog_crawled"
    repositories: int
    tags: int
    added_count: int
    removed_count: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class RegistryUpdateRequested(RegistryEvent):
    """New details wait in `update_id` for verification; `version` is the one in force."""

    TYPE = "reglink.registry.update_requested"
    update_id: str


class RegistryUpdated(RegistryEvent):
    """Verified new details are in force at `version`; build jobs get them."""

    TYPE = "reglink.registry.updated"


class RegistryUpdateFailed(RegistryEvent):
    """The new details failed verification; the previous ones stay in force."""

    TYPE = "reglink.registry.update_failed"
    reason: str
    message: str


class JobSubscribed(RegistryEvent):
    """A build job started using the registry; it gets the current details at once."""

    TYPE = "reglink.job.subscribed"
    job_id: str


class CredentialsFailing(RegistryEvent):
    """Periodic re-verification found the credentials in force no longer work."""

    TYPE = "reglink.registry.credentials_failing"
    reason: str
    message: str
    expires_at: datetime | None = None  # the credentials' known expiry, if any


class RecheckRequested(RegistryEvent):
    """The scheduler asks for the details in force to be checked again."""

    TYPE = "reglink.registry.recheck_requested"


class CredentialsExpiring(RegistryEvent):
    TYPE = "reglink.registry.credentials_expiring"
    expires_at: datetime


class DeliverWebhook(Message):
    """Send one delivery; the message carries its id only, the secret is read at send time."""

    TYPE = "reglink.delivery.requested"
    delivery_id: str


DEFAULT_DELIVERY_BATCH = 100  # deliveries per batch message: one claim, one settle


class DeliverWebhooks(Message):
    """Send a batch of one event's deliveries together: one transaction claims them, the
    registry's secret is opened once, the POSTs go out concurrently."""

    TYPE = "reglink.delivery.batch_requested"
    delivery_ids: tuple[str, ...]

    @classmethod
    def batches(cls, delivery_ids: Sequence[str]) -> list[DeliverWebhooks]:
        """The deliveries in messages of `DEFAULT_DELIVERY_BATCH`, in order."""
        size = DEFAULT_DELIVERY_BATCH
        return [
            cls(delivery_ids=tuple(delivery_ids[start : start + size]))
            for start in range(0, len(delivery_ids), size)
        ]


DEFAULT_MAX_CHANGES = 1000  # tags listed by name in one CatalogCrawled event


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.TYPE: cls for cls in (LinkRegistry, UpdateRegistry, UnlinkRegistry, CrawlRegistry)
}
EVENT_TYPES: dict[str, type[RegistryEvent]] = {
    cls.TYPE: cls
    for cls in (
        RegistryLinkRequested,
        RegistryUnlinked,
        RegistryVerified,
        RegistryVerificationFailed,
        CrawlRequested,
        CatalogCrawled,
        RegistryUpdateRequested,
        RegistryUpdated,
        RegistryUpdateFailed,
        JobSubscribed,
        CredentialsFailing,
        CredentialsExpiring,
        RecheckRequested,
    )
}
MESSAGE_TYPES: dict[str, type[Message]] = {
    **COMMAND_TYPES,
    **EVENT_TYPES,
    DeliverWebhook.TYPE: DeliverWebhook,
    DeliverWebhooks.TYPE: DeliverWebhooks,
}
