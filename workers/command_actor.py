"""The command actor's work: decode, pre-check, hand to the command's handler, record.

Every command is applied at most once, keyed by its id: the command record is locked
first, and a record that already left `queued` means a redelivery, which changes
nothing. A command that applies turns `running`; the lifecycle settles it when its
effect is (at once for an unlink).
"""

from __future__ import annotations

from typing import Any

import structlog

from events.envelope import parse_envelope
from events.errors import CommandRejected, UnknownCommand
from events.messages import Command
from events.validation import validate_command
from store import command_records as records
from store.prechecks import precheck
from store.uow import UnitOfWork, UnitOfWorkFactory
from workers.poison import Poison
from workers.registry_commands import Reseal
from workers.wiring import COMMANDS

log = structlog.get_logger(__name__)
MAX_ID_LENGTH = 100  # the envelope's own limit on ids


def handle_command(
    raw: Any, uow: UnitOfWorkFactory, reseal: Reseal, insecure_hosts: tuple[str, ...]
) -> str | None:
    """Apply one command from the broker; its status afterwards. An envelope that breaks
    the contract is `Poison` (a dead letter with the reason), and the command it names,
    if it names one, fails with that reason."""
    try:
        envelope = parse_envelope(raw)
    except CommandRejected as exc:
        _reject_unparsed(raw, exc, uow)
        raise Poison(exc.message) from None
    bound = log.bind(
        command_id=envelope.commandid, correlation_id=envelope.correlationid, type=envelope.type
    )
    project = str(envelope.data.get("project", ""))[:200]

    def queued(unit: UnitOfWork) -> None:
        """The command's record, unless the gateway (or a first delivery) wrote it."""
        records.record_queued(
            unit.session,
            id=envelope.id,
            type=envelope.type,
            project=project,
            actor=envelope.actor,
            correlation_id=envelope.correlationid,
        )

    with uow() as unit:  # one transaction: the record and the command applied
        record = records.lock(unit.session, envelope.id)  # the gateway usually wrote it
        if record is None:  # published straight to the broker: write it, then lock it
            queued(unit)
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
    with uow() as unit:  # the apply rolled back: the record again, then its outcome
        queued(unit)
        unit.commit()
    _reject(envelope.id, rejection, uow)
    bound.warning("command.rejected", code=rejection.code, error=rejection.message)
    return "failed"


def _reject_unparsed(raw: Any, rejection: CommandRejected, uow: UnitOfWorkFactory) -> None:
    """Fail the command a broken envelope names (its `id`), if the id is usable."""
    fields = raw if isinstance(raw, dict) else {}
    command_id, data = fields.get("id"), fields.get("data")
    if not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_ID_LENGTH:
        return
    project = data.get("project") if isinstance(data, dict) else None
    actor = fields.get("actor")
    with uow() as unit:
        records.record_queued(
            unit.session,
            id=command_id,
            type=str(fields.get("type") or "unknown")[:MAX_ID_LENGTH],
            project=str(project or "")[:MAX_ID_LENGTH],
            actor=actor[:MAX_ID_LENGTH] if isinstance(actor, str) else None,
            correlation_id=command_id,
        )
        unit.commit()
    _reject(command_id, rejection, uow)


def _reject(command_id: str, rejection: CommandRejected, uow: UnitOfWorkFactory) -> None:
    """Record the failed outcome alone: nothing else of the command is kept."""
    with uow() as unit:
        record = records.lock(unit.session, command_id)
        if record is None or record.status != "queued":
            return
        records.finish(record, error_code=rejection.code, error_message=rejection.message)
        unit.add(record)
        unit.audit(
            "command.rejected",
            actor=record.actor,
            project_id=None,
            target=record.type,
            command_id=command_id,
            code=rejection.code,
        )
        unit.commit()
