"""Poison messages pushed raw into Redis, beside a valid command: the valid one is
processed, each poison message is a dead letter with its reason, the command a broken
envelope names fails with that reason, and the consumer keeps consuming."""

from __future__ import annotations

import json
import uuid
from typing import Any

import dramatiq
from fastapi.testclient import TestClient

from events.envelope import Envelope
from events.messages import LinkRegistry
from gateway.bootstrap import Container
from gateway.ops import dead_letters
from store.tables import CommandRecord
from tests.conftest import NamespacedRedis
from tests.polling import wait_until


def push_raw(
    redis_client: NamespacedRedis, body: bytes, queue: str = "commands", rid: str | None = None
) -> str:
    """What another service writing straight into Redis does (HSET, then RPUSH)."""
    rid = rid or str(uuid.uuid4())
    redis_client.hset(f"{redis_client.namespace}:{queue}.msgs", rid, body)
    redis_client.rpush(f"{redis_client.namespace}:{queue}", rid)
    return rid


def dramatiq_body(actor: str, args: list[Any], **extra: Any) -> bytes:
    message: dict[str, Any] = {
        "queue_name": "commands",
        "actor_name": actor,
        "args": args,
        "kwargs": {},
        "options": {},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": 0,
    }
    return json.dumps({**message, **extra}).encode()


def command_envelope(command_id: str, name: str, **extra: Any) -> dict[str, Any]:
    command = LinkRegistry(project="demo", name=name, url="https://registry.example.test")
    raw = Envelope.wrap(command, command_id=command_id, actor="alice").model_dump(mode="json")
    return {**raw, **extra}


def record(container: Container, command_id: str) -> CommandRecord | None:
    with container.uow() as uow:
        return uow.session.get(CommandRecord, command_id)


def test_garbage_never_blocks_a_valid_command_and_becomes_a_dead_letter_with_its_reason(
    workers: Container, api: TestClient, project: dict[str, Any], redis_client: NamespacedRedis
) -> None:
    without_kwargs = json.loads(dramatiq_body("handle_command", []))
    del without_kwargs["kwargs"]
    broken = command_envelope("poison-cmd-0001", "broken") | {"specversion": "0.3"}
    for body in (
        b"\x00not json at all",
        json.dumps(without_kwargs).encode(),
        dramatiq_body("launch_rockets", []),
        dramatiq_body("handle_command", [broken]),
    ):
        push_raw(redis_client, body)
    # a valid command with standard CloudEvents extensions, in the same batch
    valid = command_envelope(
        "valid-cmd-0001",
        "good",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        datacontenttype="application/json; charset=utf-8",
    )
    push_raw(redis_client, dramatiq_body("handle_command", [valid]))

    applied = wait_until(
        lambda: (
            (r := record(workers, "valid-cmd-0001")) is not None and r.status == "running" and r
        ),
        what="the valid command applied",
    )
    assert applied.error_code is None
    letters = wait_until(
        lambda: len(found := dead_letters(workers.broker, "commands")) == 4 and found,
        what="four dead letters",
    )
    reasons = sorted(letter["last_error"] or "" for letter in letters)
    assert any("undecodable message" in r and "Error" in r for r in reasons), reasons
    assert sum("undecodable message" in r for r in reasons) == 2, reasons
    assert any("undecodable message" in r and "kwargs" in r for r in reasons), reasons
    assert any("ActorNotFound: launch_rockets" in r for r in reasons), reasons
    assert any("malformed envelope" in r and "specversion" in r for r in reasons), reasons
    failed = record(workers, "poison-cmd-0001")
    assert failed is not None
    assert (failed.status, failed.error_code) == ("failed", "invalid_envelope")
    # nothing left in flight, and the consumer still takes new work
    push_raw(
        redis_client, dramatiq_body("handle_command", [command_envelope("valid-cmd-0002", "two")])
    )
    wait_until(
        lambda: (r := record(workers, "valid-cmd-0002")) is not None and r.status == "running",
        what="a later command applied",
    )

    def in_flight() -> int:
        acks = redis_client.keys(f"{redis_client.namespace}:__acks__.*")
        return sum(redis_client.scard(key) for key in acks)

    wait_until(lambda: in_flight() == 0, what="nothing left in flight")  # acked after running


def test_a_dead_letter_of_garbage_can_be_read_and_purged(
    workers: Container, project: dict[str, Any], redis_client: NamespacedRedis
) -> None:
    push_raw(redis_client, b"{{{")
    letters = wait_until(lambda: dead_letters(workers.broker, "commands"), what="dead letter")
    assert letters[0]["actor"] == "<undecodable>"
    workers.broker.enqueue(
        dramatiq.Message(
            queue_name="commands",
            actor_name="handle_command",
            args=(command_envelope("after-garbage-01", "after"),),
            kwargs={},
            options={},
        )
    )
    wait_until(
        lambda: (r := record(workers, "after-garbage-01")) is not None and r.status == "running",
        what="the next command applied",
    )
