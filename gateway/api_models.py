"""The documents the API returns, as typed models: `gateway.documents` fills them from
rows, the routes declare them, and `/openapi.json` publishes them, so what a generated
client expects and what the server sends are the same thing.

Times are ISO 8601 strings as Python writes them (`isoformat()`): UTC, with an offset
when the database keeps one (PostgreSQL) and without one when it does not (SQLite).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from events.messages import AuthType

Timestamp = str  # see the module docstring


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryDocument(Document):
    """A network step reglink is retrying on the registry, while it is."""

    step: str = Field(
        description="verify_registry, verify_update, recheck_registry or crawl_registry"
    )
    attempt: int
    reason: str | None = Field(description="The last failure's reason.")
    next_try_at: Timestamp | None


class ProgressDocument(Document):
    """A running crawl's counts so far."""

    started_at: Timestamp | None
    repositories: int
    tags: int


class CrawlChanges(Document):
    """What the last crawl found changed since the one before (names capped at 100)."""

    added_count: int
    removed_count: int
    added: list[str] = Field(description="`repository:tag` added")
    removed: list[str] = Field(description="`repository:tag` removed")


class RegistryDocument(Document):
    """A linked registry. Never holds its secret."""

    name: str
    url: str
    description: str
    auth: AuthType
    username: str | None
    status: str = Field(
        description="pending, verified, failed, update_failed, degraded, expiring or unlinked"
    )
    reason: str | None = Field(description="Why it failed, from the closed set of reasons.")
    message: str | None
    version: int
    catalog: str | None = Field(description="supported or unsupported, once verified.")
    catalog_note: str | None = Field(
        description="For a registry without a catalog: how to name repositories to browse."
    )
    repositories: list[str]
    expires_at: Timestamp | None
    created_at: Timestamp | None
    updated_at: Timestamp | None
    verified_at: Timestamp | None
    crawled_at: Timestamp | None
    repository_count: int | None
    tag_count: int | None
    crawl_error: str | None
    crawl_finished_at: Timestamp | None
    changes: CrawlChanges | None = Field(
        description="What the last crawl changed since the one before; null after the first."
    )
    retry: RetryDocument | None = Field(description="Set while a network step is retried.")
    activity: str | None = Field(description="verifying, verifying_update, crawling, or null.")
    progress: ProgressDocument | None = Field(description="Set while a crawl runs.")


class RegistryList(Document):
    registries: list[RegistryDocument]


class Accepted(Document):
    """A command was queued (or an earlier one with the same Idempotency-Key is known);
    follow it at the `Location` header, `GET /v1/commands/{command_id}`."""

    command_id: str
    status: str = Field(description="queued, running, succeeded or failed")


class CommandError(Document):
    code: str | None
    message: str | None


class CommandDocument(Document):
    """A command and its outcome; terminal (`succeeded`, `failed`) only once its effect
    is settled. `registry` is the registry as it is now: null when the command names none
    yet (still queued) or once that row is gone."""

    id: str
    type: str
    project: str
    status: str = Field(description="queued, running, succeeded or failed")
    error: CommandError | None
    created_at: Timestamp | None
    finished_at: Timestamp | None
    registry: RegistryDocument | None = None


class RepositoryDocument(Document):
    name: str
    tags: int = Field(description="How many tags the last crawl found.")


class RepositoryList(Document):
    repositories: list[RepositoryDocument]


class TagDocument(Document):
    tag: str
    digest: str | None
    media_type: str | None
    platforms: list[str]


class TagList(Document):
    tags: list[TagDocument]


class JobRegistryUse(Document):
    name: str
    delivered_version: int | None


class JobDocument(Document):
    name: str
    webhook: str
    registries: list[JobRegistryUse]


class JobList(Document):
    jobs: list[JobDocument]


class NewJob(Document):
    """The signing secret appears in this answer and nowhere else, ever."""

    name: str
    webhook: str
    secret: str = Field(description="whsec_…: verify deliveries with it (Standard Webhooks).")


class RotatedSecret(Document):
    """A job's new signing secret: in this answer and nowhere else; the old one stops now."""

    name: str
    secret: str = Field(description="whsec_…: verify deliveries with it from now on.")


class ProjectRole(Document):
    name: str
    role: str | None = Field(description="owner or member")


class ProjectList(Document):
    projects: list[ProjectRole]


class JobUse(Document):
    job: str
    registry: str
    version: int


class DeliveryDocument(Document):
    id: str
    registry: str
    kind: str = Field(description="updated, unlinked, credentials_failing or credentials_expiring")
    version: int
    status: str = Field(description="pending, delivered, superseded or dead")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None


class DeliveryList(Document):
    deliveries: list[DeliveryDocument]


class DeliveryRetry(Document):
    delivery_id: str
    status: Literal["pending"]


class SealingKey(Document):
    algorithm: str
    public_key: str


class QueueStats(Document):
    queue: str
    ready: int
    delayed: int
    in_flight: int
    dead: int
    oldest_ready_age_s: float | None
    failures: dict[str, int]


class QueueList(Document):
    queues: list[QueueStats]


class DeadLetterDocument(Document):
    id: str
    redis_message_id: str | None
    queue: str
    actor: str
    command_id: str | None
    correlation_id: str | None
    last_error: str | None
    retries: int
    when: Timestamp


class DeadLetterList(Document):
    dead_letters: list[DeadLetterDocument]


class Replayed(Document):
    replayed: int


class Purged(Document):
    purged: int


class Health(Document):
    status: Literal["ok"]


class Readiness(Document):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool]
