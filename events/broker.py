"""The broker set-up and `publish()`: how a message gets onto a dramatiq queue.

Other services may publish commands without reglink's code: a dramatiq message with
actor `handle_command` on queue `commands`, whose single argument is an `Envelope` as
JSON, and whose dramatiq message id equals the envelope id.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from events.envelope import Envelope

COMMANDS_QUEUE = "commands"
COMMAND_ACTOR = "handle_command"
# Every queue of the contract; declaring them up front lets the in-process broker
# hold messages for actors that a given process does not run.
QUEUES = ("commands", "verify", "crawl", "fanout", "deliveries")


def make_broker(
    redis_url: str | None,
    namespace: str = "dramatiq",
    *,
    heartbeat_timeout_ms: int = 60_000,
    maintenance_chance: int = 1_000,
    redis_class: type[RedisBroker] = RedisBroker,
) -> dramatiq.Broker:
    """A RedisBroker when a URL is given, else an in-process broker (for `reglink up`).

    A worker that dies holding messages is noticed once its heartbeat is
    `heartbeat_timeout_ms` old, by a maintenance pass that runs on `maintenance_chance`
    out of a million broker calls; its messages then go back on their queues.
    `redis_class` lets the composition root choose a RedisBroker that handles messages
    no consumer can decode."""
    broker: dramatiq.Broker = (
        redis_class(
            url=redis_url,
            namespace=namespace,
            heartbeat_timeout=heartbeat_timeout_ms,
            maintenance_chance=maintenance_chance,
        )
        if redis_url
        else StubBroker()
    )
    broker.add_middleware(CurrentMessage())  # handlers read their retry count
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def publish(
    broker: dramatiq.Broker,
    envelope: Envelope,
    *,
    actor_name: str,
    queue_name: str,
    delay_ms: int | None = None,
    message_id: str | None = None,
) -> None:
    """Enqueue an envelope for one actor. The dramatiq message id defaults to the envelope
    id, so a message published twice is recognisably the same message."""
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=(envelope.model_dump(mode="json"),),
        kwargs={},
        options={},
        message_id=message_id or envelope.id,
    )
    broker.enqueue(message, delay=delay_ms)


def publish_command(broker: dramatiq.Broker, envelope: Envelope) -> None:
    publish(broker, envelope, actor_name=COMMAND_ACTOR, queue_name=COMMANDS_QUEUE)
