"""The command actor's work: decode, pre-check, hand to the command's handler, record.

Every command is applied at most once, keyed by its id: the command record is locked
first, and a record that already left `queued` means a redelivery, which changes
nothing. A command that applies turns `running`; the lifecycle settles it when its
effect is (at once for an unlink).
"""

from __future__ import annotations

from typing import Any

import structlog

from events.envelope import Envelope, parse_envelope
from events.errors import CommandRejected, UnknownCommand
from events.messages import Command
from events.validation import validate_command
from store import commands as records
from store.prechecks import precheck
from store.uow import UnitOfWorkFactory
from workers.registry_commands import Reseal
from workers.wiring import COMMANDS

log = structlog.get_logger(__name__)


def handle_command(
    raw: Any, uow: UnitOfWorkFactory, reseal: Reseal, insecure_hosts: tuple[str, ...]
) -> str | None:
    """Apply one command from the broker; its status afterwards, or None for an envelope
    too malformed to carry an id (logged and dropped: retrying cannot help)."""
    try:
        envelope = parse_envelope(raw)
    except UnknownCommand as exc:
        log.error("command.malformed", error=exc.message)
        return None
    bound = log.bind(
        command_id=envelope.commandid, correlation_id=envelope.correlationid, type=envelope.type
    )
    project = str(envelope.data.get("project", ""))[:200]
    with uow() as unit:
        records.record_queued(
            unit.session,
            id=envelope.id,
            type=envelope.type,
            project=project,
            actor=envelope.actor,
            correlation_id=envelope.correlationid,
        )
        unit.commit()
    with uow() as unit:
        record = records.lock(unit.session, envelope.id)
        assert record is not None
        if record.status != "queued":
            bound.info("command.duplicate", status=record.status)
            return record.status
        try:
            message = envelope.message()
            if not isinstance(message, Command):
                raise UnknownCommand(f"{envelope.type} is not a command")
            command = validate_command(message, insecure_hosts)
            checked = precheck(unit, command, envelope.actor)
            registry_id = COMMANDS[type(command)](command, checked, unit, envelope, reseal)
            records.start(record, registry_id)
            unit.add(record)
            unit.commit()
            bound.info("command.applied", status=record.status, registry_id=registry_id)
            return record.status
        except CommandRejected as exc:  # Clash included: a name taken meanwhile
            rejection = exc
    _reject(envelope, rejection, uow)
    bound.warning("command.rejected", code=rejection.code, error=rejection.message)
    return "failed"


def _reject(envelope: Envelope, rejection: CommandRejected, uow: UnitOfWorkFactory) -> None:
    """Record the failed outcome alone: nothing else of the command is kept."""
    with uow() as unit:
        record = records.lock(unit.session, envelope.id)
        if record is None or record.status != "queued":
            return
        records.finish(record, error_code=rejection.code, error_message=rejection.message)
        unit.add(record)
        unit.audit(
            "command.rejected",
            actor=envelope.actor,
            project_id=None,
            target=envelope.type,
            command_id=envelope.commandid,
            code=rejection.code,
        )
        unit.commit()
