"""Reading and settling the outbox; the relay in `workers.relay` drives it.

Published rows stay a while (people and tests read what was emitted), then are pruned
in bounded batches; the relay's scan reads a partial index of unpublished rows only, so
neither grows with history.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
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


def claim_published(session: Session, ids: list[str]) -> set[str]:
    """Mark these rows published, if no relay did; the ids this call marked (the caller
    publishes them before it commits)."""
    statement = (
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.published_at).is_(None))
        .values(published_at=utcnow(), attempts=OutboxMessage.attempts + 1)
        .returning(col(OutboxMessage.id))
    )
    # on the session's connection: a plain UPDATE needs none of the ORM's bookkeeping
    return {row[0] for row in session.connection().execute(statement)}


def prune_published(session: Session, older_than: timedelta, limit: int) -> int:
    """Delete up to `limit` rows published longer than `older_than` ago; how many."""
    before = utcnow() - older_than
    ids = select(OutboxMessage.id).where(col(OutboxMessage.published_at) < before).limit(limit)
    result = session.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
