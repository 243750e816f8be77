"""Applying commands: authorize, validate, change state and emit, in one transaction.

Every command is applied at most once, keyed by its id: the command record is locked
first, and a record that already has an outcome means a redelivery, which changes
nothing.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from events.envelope import Envelope, parse_envelope
from events.errors import CommandRejected, Conflict, UnknownCommand
from events.messages import (
    Command,
    CrawlRegistry,
    LinkRegistry,
    UnlinkRegistry,
    UpdateRegistry,
)
from events.validation import validate_command
from store import commands as records
from workers.deps import WorkerDeps
from workers.link import link_registry, request_crawl
from workers.unlink import unlink_registry
from workers.update import update_registry

log = structlog.get_logger(__name__)

HANDLERS: dict[type[Command], Any] = {
    LinkRegistry: link_registry,
    UnlinkRegistry: unlink_registry,
    CrawlRegistry: request_crawl,
    UpdateRegistry: update_registry,
}


def handle_command(raw: Any, deps: WorkerDeps) -> str | None:
    """Apply one command from the broker; returns its outcome status, or None for an
    envelope too malformed to carry an id (logged and dropped: retrying cannot help)."""
    try:
        envelope = parse_envelope(raw)
    except UnknownCommand as exc:
        log.error("command.malformed", error=exc.message)
        return None
    bound = log.bind(
        command_id=envelope.commandid, correlation_id=envelope.correlationid, type=envelope.type
    )
    project = str(envelope.data.get("project", ""))[:200]
    with deps.uow() as uow:
        records.record_queued(
            uow.session,
            id=envelope.id,
            type=envelope.type,
            project=project,
            actor=envelope.actor,
            correlation_id=envelope.correlationid,
        )
        uow.commit()
    with deps.uow() as uow:
        record = records.lock(uow.session, envelope.id)
        assert record is not None
        if record.status != "queued":
            bound.info("command.duplicate", status=record.status)
            return record.status
        try:
            message = envelope.message()
            if not isinstance(message, Command):
                raise UnknownCommand(f"{envelope.type} is not a command")
            command = validate_command(message, deps.insecure_hosts)
            registry_id = HANDLERS[type(command)](command, envelope, uow, deps)
            records.finish(record, registry_id=registry_id)
            uow.session.add(record)
            uow.commit()
            bound.info("command.succeeded", registry_id=registry_id)
            return "succeeded"
        except CommandRejected as exc:
            rejection = exc
        except IntegrityError:
            rejection = Conflict("the name was taken by a command that ran at the same time")
    _reject(envelope, rejection, deps)
    bound.warning("command.rejected", code=rejection.code, error=rejection.message)
    return "failed"


def _reject(envelope: Envelope, rejection: CommandRejected, deps: WorkerDeps) -> None:
    """Record the failed outcome alone: nothing else of the command is kept."""
    with deps.uow() as uow:
        record = records.lock(uow.session, envelope.id)
        if record is None or record.status != "queued":
            return
        records.finish(record, error_code=rejection.code, error_message=rejection.message)
        uow.session.add(record)
        uow.audit(
            "command.rejected",
            actor=envelope.actor,
            project_id=None,
            target=envelope.type,
            command_id=envelope.commandid,
            code=rejection.code,
        )
        uow.commit()
