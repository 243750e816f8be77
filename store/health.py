"""What the store says of itself to readiness checks and Prometheus."""

from __future__ import annotations

from sqlalchemy import Engine, func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from store.tables import Delivery, Registry


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
