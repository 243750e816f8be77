"""What the store says of itself to readiness checks and Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from store.tables import Delivery, OutboxMessage, Registry


def database_answers(engine: Engine) -> bool:
    """Whether the database answers a trivial query now."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def registries_by_status(session: Session) -> dict[str, int]:
    statement = select(Registry.status, func.count()).group_by(Registry.status)
    return dict(session.exec(statement).all())


def deliveries_by_status(session: Session) -> dict[str, int]:
    statement = select(Delivery.status, func.count()).group_by(Delivery.status)
    return dict(session.exec(statement).all())


def outbox_backlog(session: Session) -> tuple[int, float]:
    """Unpublished outbox rows and the age in seconds of the oldest (0 when none): a relay
    that stopped shows as a lag that only grows."""
    statement = select(func.count(), func.min(OutboxMessage.created_at)).where(
        col(OutboxMessage.published_at).is_(None)
    )
    count, oldest = session.exec(statement).one()
    return int(count), 0.0 if oldest is None else age_seconds(oldest)


def age_seconds(moment: datetime) -> float:
    """Seconds since a stored time (never negative, whatever the clocks say)."""
    if moment.tzinfo is None:  # SQLite keeps no offset; what it holds is UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())
