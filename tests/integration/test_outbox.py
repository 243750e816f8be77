"""The outbox: a committed change reaches the broker even when publishing fails or the
process dies, and a republished message is applied once."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import dramatiq
import pytest
import redis
from sqlmodel import select

from events.envelope import Envelope
from events.messages import LinkRegistry
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.inbox import first_time
from store.tables import OutboxMessage
from tests.integration.redis_queue import queued_messages
from workers.command_actor import handle_command
from workers.relay import relay_once


class FailingBroker:
    """Wraps the real broker; fails before or after the real enqueue, once."""

    def __init__(self, broker: dramatiq.Broker, *, after_enqueue: bool) -> None:
        self._broker = broker
        self._after = after_enqueue

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> Any:
        if not self._after:
            raise redis.ConnectionError("broker away")
        self._broker.enqueue(message, delay=delay)
        raise KeyboardInterrupt("process dies right after the enqueue")


def link_committed(container: Container, command_id: str) -> None:
    """Run the command handler alone: state + outbox committed, nothing published."""
    command = LinkRegistry(project="demo", name="hub", url="https://registry.example.test")
    envelope = Envelope.wrap(command, command_id=command_id, actor="alice")
    deps = container.worker_deps()
    raw = envelope.model_dump(mode="json")
    assert handle_command(raw, deps.uow, deps.reseal, tuple(deps.insecure_hosts)) == "running"


def unpublished_count(container: Container) -> int:
    with container.uow() as uow:
        rows = uow.session.exec(select(OutboxMessage).where(OutboxMessage.published_at == None))  # noqa: E711
        return len(list(rows))


def test_publish_failure_keeps_the_row_until_the_broker_is_back(
    container: Container, project: dict[str, Any], redis_client: redis.Redis
) -> None:
    link_committed(container, "cmd-outbox-0001")
    with pytest.raises(redis.ConnectionError):
        relay_once(container.uow, FailingBroker(container.broker, after_enqueue=False))  # type: ignore[arg-type]
    assert unpublished_count(container) == 1
    assert queued_messages(redis_client, "verify") == []

    assert relay_once(container.uow, container.broker) == 1
    assert relay_once(container.uow, container.broker) == 0
    assert len(queued_messages(redis_client, "verify")) == 1
    assert unpublished_count(container) == 0


def test_crash_between_publish_and_mark_republishes_the_same_message_applied_once(
    container: Container, project: dict[str, Any], redis_client: redis.Redis
) -> None:
    link_committed(container, "cmd-outbox-0002")
    with pytest.raises(KeyboardInterrupt):
        relay_once(container.uow, FailingBroker(container.broker, after_enqueue=True))  # type: ignore[arg-type]
    assert unpublished_count(container) == 1
    assert relay_once(container.uow, container.broker) == 1

    messages = queued_messages(redis_client, "verify")
    assert len(messages) == 2, "at-least-once: the message went out twice"
    assert messages[0]["message_id"] == messages[1]["message_id"]
    envelope_ids = {Envelope.model_validate(m["args"][0]).id for m in messages}
    assert len(envelope_ids) == 1

    applied = []
    for message in messages:  # what a consumer does with each delivery
        with container.uow() as uow:
            if first_time(
                uow.session, "verify_registry", Envelope.model_validate(message["args"][0]).id
            ):
                applied.append(message["message_id"])
            uow.commit()
    assert len(applied) == 1, "effects exactly once"


KILLED_WORKER = """
import os, sys
from gateway.bootstrap import bootstrap
from gateway.settings import Settings
from events.envelope import Envelope
from events.messages import LinkRegistry
from workers.command_actor import handle_command

settings = Settings.model_validate_json(sys.argv[1])
container = bootstrap(settings)
command = LinkRegistry(project="demo", name="hub", url="https://registry.example.test")
envelope = Envelope.wrap(command, command_id="cmd-killed-0001", actor="alice")
deps = container.worker_deps()
handle_command(envelope.model_dump(mode="json"), deps.uow, deps.reseal, ())
os._exit(137)  # killed after the commit, before the relay ran
"""


def test_process_killed_after_commit_still_publishes_once(
    container: Container, settings: Settings, project: dict[str, Any], redis_client: redis.Redis
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, settings.model_dump_json()],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 137, result.stderr.decode()
    assert queued_messages(redis_client, "verify") == []
    assert unpublished_count(container) == 1

    assert relay_once(container.uow, container.broker) == 1  # another process's relay
    assert len(queued_messages(redis_client, "verify")) == 1
