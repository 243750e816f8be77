"""SQLModel tables. Secrets appear only as ciphertext (`Credential`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from events.envelope import utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(primary_key=True)
    name: str = Field(unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    operator: bool = False  # sees and acts on the broker across projects (`reglink ops`)


class ApiToken(SQLModel, table=True):
    """Only the SHA-256 of a token is kept: tokens are 256 random bits, no slow hash needed."""

    __tablename__ = "api_tokens"
    id: str = Field(primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None  # None: until revoked
    revoked_at: datetime | None = None


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    id: str = Field(primary_key=True)
    name: str = Field(unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Member(SQLModel, table=True):
    __tablename__ = "members"
    project_id: str = Field(foreign_key="projects.id", primary_key=True)
    user_id: str = Field(foreign_key="users.id", primary_key=True)
    role: str  # owner | member


class Registry(SQLModel, table=True):
    """`active_name` is the lower-cased name while linked and NULL once unlinked, so the
    unique constraint keeps live names unique per project, case-insensitively."""

    __tablename__ = "registries"
    __table_args__ = (
        UniqueConstraint("project_id", "active_name", name="uq_registry_active_name"),
    )
    id: str = Field(primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    name: str
    active_name: str | None = None
    url: str
    description: str = ""
    auth: str
    username: str | None = None
    status: str = "pending"
    reason: str | None = None
    message: str | None = None
    version: int = 1
    catalog: str | None = None  # supported | unsupported, once verified
    repositories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    verified_at: datetime | None = None
    unlinked_at: datetime | None = None
    catalog_generation: str | None = None  # the crawl browsing shows
    crawled_at: datetime | None = None
    repository_count: int | None = None
    tag_count: int | None = None
    crawl_error: str | None = None  # reason of the last failed crawl, cleared by a good one
    # what the last crawl changed against the one before: counts and `repo:tag` (capped)
    last_changes: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    crawl_finished_at: datetime | None = None  # the last crawl's end, good or failed
    pending_update_id: str | None = None  # the proposal being verified, if any
    checked_at: datetime | None = None  # last periodic re-verification asked for
    crawl_requested_at: datetime | None = None  # last scheduled crawl asked for
    delivery_sequence: int = 0  # the last `sequence` given to a delivery about it
    # Unfinished work, so the reconciler can re-drive it when its message is lost:
    work_since: datetime | None = None  # a verification (link or update) asked for, not done
    crawl_since: datetime | None = None  # a crawl asked for, not finished
    crawl_lease_until: datetime | None = None  # a crawl is running (one per registry)
    # The network step being retried, shown to people while it is:
    retry_step: str | None = None
    retry_count: int = 0
    retry_reason: str | None = None
    retry_at: datetime | None = None
    crawl_started_at: datetime | None = None  # the running (or last) crawl's start
    crawl_seen_repositories: int | None = None  # written so far by the running crawl
    crawl_seen_tags: int | None = None
    # PEM certificates its TLS chains to (a private CA), trusted for it alone; public data
    ca_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CatalogRepository(SQLModel, table=True):
    """One repository of one crawl (`generation`); browsing reads the registry's current one."""

    __tablename__ = "catalog_repositories"
    __table_args__ = (Index("ix_catalog_repositories_lookup", "registry_id", "generation", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    registry_id: str = Field(foreign_key="registries.id")
    generation: str
    name: str
    tag_count: int = 0


class CatalogTag(SQLModel, table=True):
    __tablename__ = "catalog_tags"
    # covers browsing (registry, generation, repository) and the re-crawl diff's set
    # difference over (repository, tag), so neither depends on table statistics
    __table_args__ = (
        Index("ix_catalog_tags_pairs", "registry_id", "generation", "repository", "tag"),
    )
    id: int | None = Field(default=None, primary_key=True)
    registry_id: str = Field(foreign_key="registries.id")
    generation: str
    repository: str
    tag: str
    digest: str | None = None
    media_type: str | None = None
    platforms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Credential(SQLModel, table=True):
    """Envelope encryption: `ciphertext` under a per-credential data key, the data key
    wrapped by the store's rotating key set. Deleting the row destroys the data key."""

    __tablename__ = "credentials"
    id: str = Field(primary_key=True)
    registry_id: str = Field(foreign_key="registries.id", unique=True, index=True)
    host: str  # the host the secret was entered for; never sent anywhere else
    wrapped_key: str = Field(sa_column=Column(Text, nullable=False))
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class RegistryUpdate(SQLModel, table=True):
    """Proposed new details, verified before they replace the ones in force."""

    __tablename__ = "registry_updates"
    id: str = Field(primary_key=True)
    registry_id: str = Field(foreign_key="registries.id", index=True)
    base_version: int
    name: str
    url: str
    description: str
    auth: str
    username: str | None = None
    repositories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: datetime | None = None
    ca_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    command_id: str | None = None  # the update command that proposed it, ended with it
    keep_secret: bool = False  # no new secret given: the stored one stays
    wrapped_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ciphertext: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = "pending"  # pending | applied | failed | superseded
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class BuildJob(SQLModel, table=True):
    __tablename__ = "build_jobs"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_build_job_name"),)
    id: str = Field(primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    name: str
    webhook_url: str
    wrapped_key: str = Field(sa_column=Column(Text, nullable=False))
    secret_ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class JobRegistry(SQLModel, table=True):
    """A build job's use of a registry, and the newest version it has acknowledged."""

    __tablename__ = "job_registries"
    job_id: str = Field(foreign_key="build_jobs.id", primary_key=True)
    registry_id: str = Field(foreign_key="registries.id", primary_key=True)
    delivered_version: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One webhook delivery to one build job; its id is the `webhook-id` on every try."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_job", "job_id", "created_at"),)
    id: str = Field(primary_key=True)
    job_id: str = Field(foreign_key="build_jobs.id")
    registry_id: str = Field(foreign_key="registries.id", index=True)
    kind: str  # updated | unlinked | credentials_failing | credentials_expiring
    version: int
    event_id: str
    sequence: int = 0  # per registry, in fan-out order: the order jobs receive them in
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = "pending"  # pending | delivered | superseded | dead
    attempts: int = 0
    waiting_since: datetime | None = None  # last tried or sent again; the reconciler counts from it
    last_error: str | None = None
    last_status_code: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class DeliveryLease(SQLModel, table=True):
    """Who is sending to a (job, registry) pair right now: one send at a time keeps
    versions in order without holding a database lock across the HTTP call."""

    __tablename__ = "delivery_leases"
    job_id: str = Field(primary_key=True)
    registry_id: str = Field(primary_key=True)
    delivery_id: str
    until: datetime


class CommandRecord(SQLModel, table=True):
    __tablename__ = "commands"
    id: str = Field(primary_key=True)
    type: str
    project: str
    actor: str | None = None
    correlation_id: str
    status: str = "queued"  # queued | running | succeeded | failed (see store.command_records)
    error_code: str | None = None
    error_message: str | None = None
    registry_id: str | None = Field(default=None, index=True)
    # the command as accepted, kept while it is queued, so a lost message is re-sent
    envelope: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    redriven_at: datetime | None = None  # last sent again by the reconciler
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class OutboxMessage(SQLModel, table=True):
    """A message to publish, committed with the state change that caused it."""

    __tablename__ = "outbox"
    # the relay's scan reads only rows still to publish, however long the history
    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "created_at",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )
    id: str = Field(primary_key=True)  # the envelope id, reused as the dramatiq message id
    type: str
    envelope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    published_at: datetime | None = None
    attempts: int = 0


class ProcessedMessage(SQLModel, table=True):
    """Inbox: a consumer records each message id it applied, in the same transaction."""

    __tablename__ = "processed_messages"
    consumer: str = Field(primary_key=True)
    message_id: str = Field(primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """Append-only history of every state change: who, what, when; never a secret."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str | None = None
    project_id: str | None = Field(default=None, index=True)
    action: str
    target: str | None = None
    command_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
