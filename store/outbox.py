"""Reading and settling the outbox; the relay in `workers.relay` drives it."""

from __future__ import annotations

from sqlmodel import Session, col, select

from store.tables import OutboxMessage, utcnow


def unpublished(session: Session, limit: int) -> list[OutboxMessage]:
    """Oldest first, so messages leave in the order their changes committed."""
    statement = (
        select(OutboxMessage)
        .where(col(OutboxMessage.published_at).is_(None))
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)  # several relays share the rows on PostgreSQL
    )
    return list(session.exec(statement))


def mark_published(session: Session, row: OutboxMessage) -> None:
    row.published_at = utcnow()
    row.attempts += 1
    session.add(row)
