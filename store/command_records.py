"""Command records: the outcome a publisher waits for, and the idempotency key.

A command is `queued` (accepted), `running` (applied; its effect is under way, e.g. a
link being verified), then `succeeded` or `failed` once its effect is settled: a link
verified or failed, an update in force or refused, an unlink done, a crawl finished.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from store.inserts import insert
from store.tables import CommandRecord, utcnow


def record_queued(
    session: Session,
    *,
    id: str,
    type: str,
    project: str,
    actor: str | None,
    correlation_id: str,
    envelope: dict[str, Any] | None = None,
) -> None:
    """Insert the record unless it exists: a redelivered command keeps its first record.
    `envelope`, the command as published, is kept until the command is applied, so the
    reconciler can publish it again if the broker lost it."""
    values = {
        "id": id,
        "type": type,
        "project": project,
        "actor": actor,
        "correlation_id": correlation_id,
        "status": "queued",
        "envelope": envelope,
        "created_at": utcnow(),
    }
    statement = insert(session, CommandRecord).values(**values).on_conflict_do_nothing()
    session.execute(statement)


OPEN = ("queued", "running")  # no outcome yet


def lock(session: Session, command_id: str) -> CommandRecord | None:
    """The record, locked until the transaction ends (SQLite locks the whole file anyway)."""
    return session.get(CommandRecord, command_id, with_for_update=True, populate_existing=True)


def start(record: CommandRecord, registry_id: str) -> None:
    """Applied; the lifecycle settles it when its effect is."""
    if record.status == "queued":
        record.status = "running"
    record.registry_id = registry_id
    record.envelope = None  # applied: the registry's own state says what is unfinished


def finish(
    record: CommandRecord,
    *,
    registry_id: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    record.status = "failed" if error_code else "succeeded"
    record.envelope = None
    record.error_code = error_code
    record.error_message = error_message
    if registry_id:
        record.registry_id = registry_id
    record.finished_at = utcnow()
