"""The broker set-up and `publish()`: how a message gets onto a dramatiq queue.

Other services may publish commands without reglink's code: a dramatiq message with
actor `handle_command` on queue `commands`, whose single argument is an `Envelope` as
JSON, and whose dramatiq message id equals the envelope id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import q_name
from dramatiq.middleware import CurrentMessage, Middleware

from events.envelope import Envelope

COMMANDS_QUEUE = "commands"
COMMAND_ACTOR = "handle_command"
# Every queue of the contract; declaring them up front lets the in-process broker
# hold messages for actors that a given process does not run.
QUEUES = ("commands", "verify", "crawl", "fanout", "deliveries")


class DeadLetterDetails(Middleware):
    """Keep the error that killed a dead letter. Redis keeps the copy from the last
    enqueue, whose traceback is the try before; only the traceback is refreshed."""

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if not isinstance(broker, RedisBroker):
            return
        redis_id = message.options.get("redis_message_id")
        if redis_id is None:
            return
        traceback = message.options.get("traceback")
        key = f"{broker.namespace}:{q_name(message.queue_name)}.XQ.msgs"
        stored = broker.client.hget(key, redis_id)
        if traceback is None or not isinstance(stored, bytes):
            return
        dead = dramatiq.Message.decode(stored)
        broker.client.hset(key, redis_id, dead.copy(options={"traceback": traceback}).encode())


def make_broker(
    redis_url: str | None,
    namespace: str = "dramatiq",
    *,
    heartbeat_timeout_ms: int = 60_000,
    maintenance_chance: int = 1_000,
) -> dramatiq.Broker:
    """A RedisBroker when a URL is given, else an in-process broker (for `reglink up`).

    A worker that dies holding messages is noticed once its heartbeat is
    `heartbeat_timeout_ms` old, by a maintenance pass that runs on `maintenance_chance`
    out of a million broker calls; its messages then go back on their queues."""
    broker: dramatiq.Broker = (
        RedisBroker(
            url=redis_url,
            namespace=namespace,
            heartbeat_timeout=heartbeat_timeout_ms,
            maintenance_chance=maintenance_chance,
        )
        if redis_url
        else StubBroker()
    )
    broker.add_middleware(CurrentMessage())  # handlers read their retry count
    broker.add_middleware(DeadLetterDetails())
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


def enqueue_many(
    broker: dramatiq.Broker, envelopes: Sequence[Envelope], actor_name: str, queue_name: str
) -> None:
    """Enqueue many messages for one actor in a single Redis round trip (a pipeline of
    dramatiq's own enqueue script), so a large fan-out does not wait on one round trip
    per message. Other brokers enqueue one by one."""
    messages: list[dramatiq.Message[None]] = [
        dramatiq.Message(
            queue_name=queue_name,
            actor_name=actor_name,
            args=(envelope.model_dump(mode="json"),),
            kwargs={},
            options={},
            message_id=envelope.id,
        )
        for envelope in envelopes
    ]
    if not isinstance(broker, RedisBroker):
        for message in messages:
            broker.enqueue(message)
        return
    dispatch = broker.scripts["dispatch"]
    with broker.client.pipeline(transaction=False) as pipe:
        prepared = []
        for message in messages:
            message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
            broker.emit_before("enqueue", message, None)
            args = [
                "enqueue",
                int(time.time() * 1000),
                queue_name,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                0,  # no maintenance inside a batch; the consumers do it
                broker._max_unpack_size(),
                message.options["redis_message_id"],
                message.encode(),
            ]
            dispatch(args=args, keys=[broker.namespace], client=pipe)
            prepared.append(message)
        pipe.execute()
    for message in prepared:
        broker.emit_after("enqueue", message, None)
