"""The JSON documents the API returns and the CLI prints: how rows are presented lives in
the gateway, so the store only answers queries. None of them ever holds a secret; their
types are in `gateway.api_models`, which `/openapi.json` publishes."""

from __future__ import annotations

from datetime import datetime

from events.envelope import utcnow
from gateway.api_models import (
    CommandDocument,
    CommandError,
    CrawlChanges,
    DeliveryDocument,
    JobDocument,
    JobRegistryUse,
    ProgressDocument,
    RegistryDocument,
    RepositoryDocument,
    RetryDocument,
    TagDocument,
)
from store.tables import BuildJob, CatalogRepository, CatalogTag, CommandRecord, Delivery, Registry


def registry_document(registry: Registry) -> RegistryDocument:
    return RegistryDocument(
        name=registry.name,
        url=registry.url,
        description=registry.description,
        auth=registry.auth,  # type: ignore[arg-type]  # the store keeps only AuthType values
        username=registry.username,
        status=registry.status,
        reason=registry.reason,
        message=registry.message,
        version=registry.version,
        catalog=registry.catalog,
        catalog_note=catalog_note(registry.catalog),
        repositories=list(registry.repositories),
        expires_at=_iso(registry.expires_at),
        created_at=_iso(registry.created_at),
        updated_at=_iso(registry.updated_at),
        verified_at=_iso(registry.verified_at),
        crawled_at=_iso(registry.crawled_at),
        repository_count=registry.repository_count,
        tag_count=registry.tag_count,
        crawl_error=registry.crawl_error,
        crawl_finished_at=_iso(registry.crawl_finished_at),
        changes=(
            CrawlChanges.model_validate(registry.last_changes) if registry.last_changes else None
        ),
        retry=_retry(registry),
        activity=activity(registry),
        progress=_progress(registry),
    )


def catalog_note(catalog: str | None) -> str | None:
    """How to browse a registry that does not list its catalog (Docker Hub, GHCR, Harbor
    and Quay for most accounts): it is usable, and shows the repositories named for it."""
    if catalog != "unsupported":
        return None
    return (
        "this registry does not list its catalog: name the repositories to browse "
        "(`repositories` in the API; `reglink update P NAME --repository R`, repeatable; "
        "Docker Hub's official images are library/NAME)"
    )


def _retry(registry: Registry) -> RetryDocument | None:
    """The network step being retried, while it is: why, how often, when next."""
    if registry.retry_step is None:
        return None
    return RetryDocument(
        step=registry.retry_step,
        attempt=registry.retry_count,
        reason=registry.retry_reason,
        next_try_at=_iso(registry.retry_at),
    )


def activity(registry: Registry) -> str | None:
    """What reglink is doing with the registry now, beside its status: `verifying` (a
    link), `verifying_update` (an update's new details), `crawling`, or null."""
    if registry.status == "pending":
        return "verifying"
    if registry.pending_update_id is not None:
        return "verifying_update"
    if _crawling(registry):
        return "crawling"
    return None


def _crawling(registry: Registry) -> bool:
    """A crawl holds the registry's lease (renewed while it runs: a killed one lapses)."""
    lease = registry.crawl_lease_until
    return lease is not None and lease > utcnow()


def _progress(registry: Registry) -> ProgressDocument | None:
    """The running crawl's counts so far (rows written, a catalog page at a time)."""
    if not _crawling(registry):
        return None
    return ProgressDocument(
        started_at=_iso(registry.crawl_started_at),
        repositories=registry.crawl_seen_repositories or 0,
        tags=registry.crawl_seen_tags or 0,
    )


def command_document(record: CommandRecord, registry: Registry | None) -> CommandDocument:
    """`registry` is the row the command concerns as it is now (None once it is gone)."""
    return CommandDocument(
        id=record.id,
        type=record.type,
        project=record.project,
        status=record.status,
        error=(
            CommandError(code=record.error_code, message=record.error_message)
            if record.status == "failed"
            else None
        ),
        created_at=_iso(record.created_at),
        finished_at=_iso(record.finished_at),
        registry=registry_document(registry) if registry is not None else None,
    )


def repository_document(row: CatalogRepository) -> RepositoryDocument:
    return RepositoryDocument(name=row.name, tags=row.tag_count)


def tag_document(row: CatalogTag) -> TagDocument:
    return TagDocument(
        tag=row.tag, digest=row.digest, media_type=row.media_type, platforms=list(row.platforms)
    )


def job_document(job: BuildJob, uses: list[tuple[str, int]]) -> JobDocument:
    """A build job and, for each registry it uses, the version it last received."""
    return JobDocument(
        name=job.name,
        webhook=job.webhook_url,
        registries=[JobRegistryUse(name=name, delivered_version=version) for name, version in uses],
    )


def delivery_document(delivery: Delivery, registry_name: str) -> DeliveryDocument:
    return DeliveryDocument(
        id=delivery.id,
        registry=registry_name,
        kind=delivery.kind,
        version=delivery.version,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at.isoformat(),
        delivered_at=_iso(delivery.delivered_at),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
