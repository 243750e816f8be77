"""The unit of work: one transaction; rolls back unless committed.

State changes, the outbox rows they cause and their audit entries go through the same
session, so they commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from events.envelope import Envelope
from events.errors import Conflict
from store import command_records, credentials, identity, inbox
from store.secrets import Sealed
from store.tables import (
    AuditEntry,
    CatalogRepository,
    CatalogTag,
    CommandRecord,
    OutboxMessage,
    Registry,
    RegistryUpdate,
)


class Clash(Conflict):
    """A unique name was taken by a transaction that committed first."""


@dataclass
class Emits:
    """The outbox rows units of work committed while this was tracked, in emit order."""

    envelopes: list[Envelope] = field(default_factory=list)

    @property
    def emitted(self) -> bool:
        return bool(self.envelopes)


_TRACKED: ContextVar[Emits | None] = ContextVar("reglink_emits", default=None)


@contextmanager
def tracking_emits() -> Iterator[Emits]:
    """Track the outbox rows the units of work in this block (this thread) commit, so the
    caller publishes exactly those at once: a handler that wrote nothing to the outbox
    costs nothing, and one that did costs no outbox scan."""
    emits = Emits()
    token = _TRACKED.set(emits)
    try:
        yield emits
    finally:
        _TRACKED.reset(token)


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._emitted: list[Envelope] = []
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
        try:
            self.session.commit()
        except IntegrityError:
            raise Clash("the name was taken by a command that ran at the same time") from None
        emits = _TRACKED.get()
        if emits is not None:
            emits.envelopes.extend(self._emitted)
        self._emitted = []

    def add(self, row: Any) -> None:
        self.session.add(row)

    def flush(self) -> None:
        try:
            self.session.flush()
        except IntegrityError:
            raise Clash("the name was taken by a command that ran at the same time") from None

    def lock_registry(self, registry_id: str) -> Registry | None:
        """The registry row, locked until the transaction ends: transitions of one registry
        happen one at a time (SQLite's BEGIN IMMEDIATE locks the whole file anyway)."""
        return self.session.get(Registry, registry_id, with_for_update=True, populate_existing=True)

    def lock_current(self, registry_id: str, version: int) -> Registry | None:
        """The registry, locked, if it is still linked at `version`: a result about any
        other version changes nothing."""
        registry = self.lock_registry(registry_id)
        if registry is None or registry.active_name is None or registry.version != version:
            return None
        return registry

    def project_name(self, project_id: str) -> str:
        return identity.project_name(self.session, project_id)

    def proposal(self, update_id: str) -> RegistryUpdate | None:
        return self.session.get(RegistryUpdate, update_id, populate_existing=True)

    def command(self, command_id: str) -> CommandRecord | None:
        return command_records.lock(self.session, command_id)

    def open_commands(self, registry_id: str) -> list[CommandRecord]:
        """Commands on the registry still waiting for their effect."""
        statement = (
            select(CommandRecord)
            .where(
                CommandRecord.registry_id == registry_id,
                col(CommandRecord.status).in_(command_records.OPEN),
            )
            .with_for_update()
        )
        return list(self.session.exec(statement))

    def replace_secret(self, registry_id: str, host: str, sealed: Sealed | None) -> None:
        credentials.replace_secret(self.session, registry_id, host, sealed)

    def drop_catalog(self, registry_id: str) -> None:
        for table in (CatalogTag, CatalogRepository):
            self.session.execute(delete(table).where(col(table.registry_id) == registry_id))

    def first_time(self, consumer: str, message_id: str) -> bool:
        """Record that `consumer` applies `message_id` now; False when it already did."""
        return inbox.first_time(self.session, consumer, message_id)

    def seen(self, consumer: str, message_id: str) -> bool:
        return inbox.seen(self.session, consumer, message_id)

    def emit(self, envelope: Envelope) -> None:
        """Queue a message in the outbox, to be published once this transaction commits."""
        self._emitted.append(envelope)
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
