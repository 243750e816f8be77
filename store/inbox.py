"""The consumer side of exactly-once effects: remember which messages were applied."""

from __future__ import annotations

from sqlmodel import Session

from store.inserts import insert
from store.tables import ProcessedMessage, utcnow


def first_time(session: Session, consumer: str, message_id: str) -> bool:
    """Record that `consumer` applies `message_id` in the current transaction; False when it
    already did. Commit it with the effect: a redelivered message then changes nothing."""
    statement = (
        insert(session, ProcessedMessage)
        .values(consumer=consumer, message_id=message_id, processed_at=utcnow())
        .on_conflict_do_nothing()
        .returning(ProcessedMessage.message_id)  # type: ignore[arg-type]
    )
    return session.execute(statement).first() is not None


def seen(session: Session, consumer: str, message_id: str) -> bool:
    """Whether `consumer` already applied `message_id` (a read; `first_time` records)."""
    return session.get(ProcessedMessage, (consumer, message_id)) is not None
