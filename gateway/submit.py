"""Turning an HTTP request into a published command: check what needs no network now
(so callers get 422/403/404/409 at once), record the command, publish it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import redis
import structlog
from dramatiq.errors import BrokerError

from events.broker import publish_command
from events.envelope import Envelope
from events.errors import CommandRejected, Conflict, InvalidInput
from events.messages import Command
from events.validation import validate_command
from gateway.api_errors import UNAVAILABLE
from gateway.bootstrap import Container
from store import command_records as records
from store.prechecks import precheck
from store.tables import CommandRecord

log = structlog.get_logger(__name__)
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{8,100}$"  # also published in the OpenAPI document
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_CORRELATION_ID = re.compile(r"^[!-~]{1,100}$")  # printable ASCII, no space: it is logged
_KEYS = uuid.UUID("6f1d3c52-8a51-4bb5-9a43-0b5d2f1c7e10")  # namespace of per-caller key ids


class Unavailable(CommandRejected):
    """The broker could not take the command; nothing was applied, try again."""

    code = UNAVAILABLE
    http_status = 503


@dataclass(frozen=True)
class Accepted:
    command_id: str
    status: str


def submit(
    container: Container,
    command: Command,
    *,
    actor: str,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
) -> Accepted:
    """Everything the caller sent is checked before anything is written: a refused request
    leaves no command record behind."""
    check_headers(idempotency_key, correlation_id)
    command = validate_command(command, container.settings.insecure_hosts)
    command_id = command_id_for(actor, idempotency_key)
    with container.uow() as uow:
        # a new id (no key) cannot name a record yet: only a key's id is looked up
        existing = uow.session.get(CommandRecord, command_id) if idempotency_key else None
        if existing is not None and (existing.type, existing.project) != (
            command.TYPE,
            command.project,
        ):
            raise Conflict("Idempotency-Key is already used for another command")
        if existing is not None and existing.status != "queued":
            return Accepted(command_id, existing.status)
        # a retry of a queued command is checked again: the key must not skip the rules
        precheck(uow, command, actor)  # the actor checks again, with the same function
        envelope = Envelope.wrap(
            command,
            command_id=command_id,
            correlation_id=correlation_id,
            actor=actor,
            source="/gateway",
            subject=f"/projects/{command.project}/registries/{command.name}",
        )
        records.record_queued(
            uow.session,
            id=command_id,
            type=command.TYPE,
            project=command.project,
            actor=actor,
            correlation_id=correlation_id or command_id,
            envelope=envelope.model_dump(mode="json"),
        )
        uow.commit()
    try:
        publish_command(container.broker, envelope)
    except (redis.RedisError, BrokerError) as exc:
        log.error("command.publish_failed", command_id=command_id, error=type(exc).__name__)
        with container.uow() as uow:
            record = records.lock(uow.session, command_id)
            if record is not None and record.status == "queued":
                uow.session.delete(record)  # so the same Idempotency-Key can be retried
                uow.commit()
        raise Unavailable("the broker is unavailable; nothing was applied, try again") from None
    log.info(
        "command.accepted",
        command_id=command_id,
        correlation_id=envelope.correlationid,
        type=command.TYPE,
    )
    return Accepted(command_id, "queued")


def check_headers(idempotency_key: str | None, correlation_id: str | None) -> None:
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidInput("Idempotency-Key must be 8-100 characters of A-Z a-z 0-9 . _ : -")
    if correlation_id is not None and not _CORRELATION_ID.match(correlation_id):
        raise InvalidInput("X-Correlation-Id must be 1-100 printable ASCII characters, no spaces")


def command_id_for(actor: str, idempotency_key: str | None) -> str:
    """A new id, or the one this caller's key always names. Keys are scoped per caller: two
    callers using the same key get two commands, and neither learns the other used it."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_KEYS, f"{actor}\n{idempotency_key}"))
