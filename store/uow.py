"""The unit of work: one transaction; rolls back unless committed.

State changes, the outbox rows they cause and their audit entries go through the same
session, so they commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from events.envelope import Envelope
from store.tables import AuditEntry, OutboxMessage


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self._engine, expire_on_commit=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back what was not committed and detaches objects without
        # expiring them, so what was read stays readable after the block.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def emit(self, envelope: Envelope) -> None:
        """Queue a message in the outbox, to be published once this transaction commits."""
        self.session.add(
            OutboxMessage(
                id=envelope.id, type=envelope.type, envelope=envelope.model_dump(mode="json")
            )
        )

    def audit(
        self,
        action: str,
        *,
        actor: str | None,
        project_id: str | None,
        target: str | None = None,
        command_id: str | None = None,
        **details: Any,
    ) -> None:
        self.session.add(
            AuditEntry(
                action=action,
                actor=actor,
                project_id=project_id,
                target=target,
                command_id=command_id,
                details=details,
            )
        )


UnitOfWorkFactory = Callable[[], UnitOfWork]


def uow_factory(engine: Engine) -> UnitOfWorkFactory:
    return lambda: UnitOfWork(engine)
