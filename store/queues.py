"""What the broker holds, read and written through dramatiq's Redis layout; and the same
for the in-process StubBroker of `reglink up`. The one module that knows that layout.

dramatiq/brokers/redis/dispatch.lua keeps, under the broker's `namespace`: queue list
`{ns}:{q}` + message hash `{ns}:{q}.msgs`, delay queue `{ns}:{q}.DQ` (+ `.msgs`), dead
letters in the zset `{ns}:{q}.XQ` (score: when, in ms) + `{ns}:{q}.XQ.msgs`, unacked
message ids in `{ns}:__acks__.{worker}.{q}` for every worker in `{ns}:__heartbeats__`.
The StubBroker is read through its queues and `dead_letters_by_queue`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, q_name
from dramatiq.errors import BrokerError, DecodeError
from dramatiq.middleware import Middleware

from events.envelope import Envelope

# what a broker call raises while the broker is away; a pass that meets one is retried
BROKER_UNAVAILABLE = (redis.RedisError, BrokerError)

DEFAULT_AGE_SAMPLE = 100  # waiting messages looked at for the oldest one's age (head of line)


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message: dramatiq.Message[Any]
    when_ms: int  # when it was dead-lettered
    key: str | None = None  # the Redis message id; None on the in-process broker
    entry: object = field(default=None, compare=False)  # StubBroker: its own list entry


@dataclass(frozen=True)
class Counts:
    ready: int
    delayed: int
    in_flight: int
    dead: int
    oldest_ready_ms: int | None  # message_timestamp of the oldest waiting message sampled
    delayed_messages: list[dramatiq.Message[Any]]


def counts(broker: dramatiq.Broker, queue: str) -> Counts:
    if isinstance(broker, RedisBroker):
        return _redis_counts(broker, queue)
    return _stub_counts(_stub(broker), queue)


def dead(broker: dramatiq.Broker, queue: str) -> list[DeadLetter]:
    """A queue's dead letters, oldest first; undecodable entries are left alone."""
    if isinstance(broker, RedisBroker):
        return _redis_dead(broker, queue)
    stub = _stub(broker)
    letters = []
    entry: Any
    for entry in list(stub.dead_letters_by_queue.get(queue, [])):
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=entry.queue_name,
            actor_name=entry.actor_name,
            args=entry.args,
            kwargs=entry.kwargs,
            options=dict(entry.options),
            message_id=entry.message_id,
            message_timestamp=entry.message_timestamp,
        )
        when = message.options.get("requeue_timestamp") or message.message_timestamp
        letters.append(DeadLetter(queue, message, int(when), entry=entry))
    return letters


def purge(broker: dramatiq.Broker, queue: str) -> int:
    if isinstance(broker, RedisBroker):
        key = f"{broker.namespace}:{queue}.XQ"
        with broker.client.pipeline(transaction=True) as pipe:
            pipe.zcard(key)
            pipe.delete(key, f"{key}.msgs")
            dropped, _ = pipe.execute()
        return int(dropped)
    entries = _stub(broker).dead_letters_by_queue[queue]
    dropped = len(entries)
    del entries[:dropped]  # not clear(): keep what a consumer appends meanwhile
    return dropped


def replay(broker: dramatiq.Broker, letter: DeadLetter) -> bool:
    """Put one dead letter back on its queue as if newly sent (so an actor's `max_age` does
    not drop it): timestamped now, no retries, no traceback, no eta, same dramatiq message
    id, so idempotent consumers still recognise it. False when it was already gone."""
    return _take(broker, letter, lambda dead: broker.enqueue(_fresh(dead.message)))


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


UNDECODABLE_ACTOR = "<undecodable>"  # what a dead letter that never decoded shows as
DEFAULT_RAW_PREVIEW = 500  # characters of an undecodable body kept for the operator


class PoisonSafeRedisBroker(RedisBroker):
    """A RedisBroker whose consumers never see a message they cannot use. dramatiq's own
    consumer raises on a body that does not decode (the rest of its batch then stays in
    flight for good, and the same body wedges it again after a restart), and cannot
    acknowledge a message whose `options.redis_message_id` is missing (another service
    wrote it by hand). Here each fetched batch is checked first: an undecodable body is
    dead-lettered with the reason, a missing id is filled in from Redis."""

    def do_fetch(self, queue_name: str, prefetch: int) -> list[bytes]:
        bodies: list[bytes] = self._dispatch("fetch")(queue_name, prefetch)
        checked: list[bytes] = []
        unknown: list[tuple[bytes, str | None]] = []
        for body in bodies:
            try:
                message = dramatiq.Message.decode(body)
            except DecodeError as exc:
                unknown.append(
                    (body, f"undecodable message: {type(exc.error).__name__}: {exc.error}")
                )
                continue
            if "redis_message_id" in message.options:
                checked.append(body)
            else:
                unknown.append((body, None))
        if unknown:
            checked.extend(self._repair(queue_name, unknown))
        return checked

    def _repair(self, queue: str, bodies: list[tuple[bytes, str | None]]) -> list[bytes]:
        """Find each body's Redis id among this consumer's unacknowledged ones (the fetch
        returns bodies only); bury the undecodable, give the others their id."""
        ns, client = self.namespace, self.client
        ids: Any = list(client.smembers(f"{ns}:__acks__.{self.broker_id}.{queue}"))
        stored: Any = client.hmget(f"{ns}:{queue}.msgs", ids) if ids else []
        free = list(zip(ids, stored, strict=True))
        repaired = []
        for body, reason in bodies:
            match = next((pair for pair in free if pair[1] == body), None)
            if match is None:
                continue  # gone meanwhile: nothing to do
            free.remove(match)
            rid = _text(match[0])
            if reason is None:
                message = dramatiq.Message.decode(body)
                fixed = message.copy(options={**message.options, "redis_message_id": rid})
                repaired.append(fixed.encode())
            else:
                self._bury(queue, rid, body, reason)
        return repaired

    def _bury(self, queue: str, rid: str, body: bytes, reason: str) -> None:
        """Dead-letter it as a message that decodes, naming the reason and showing the
        start of the raw body, so `ops dead-letters` lists it."""
        shown: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue,
            actor_name=UNDECODABLE_ACTOR,
            args=(),
            kwargs={},
            options={"traceback": reason, "raw": _text(body)[:DEFAULT_RAW_PREVIEW]},
            message_id=rid,
        )
        self.client.hset(f"{self.namespace}:{queue}.msgs", rid, shown.encode())
        self._dispatch("nack")(queue, rid)


class DeadLetterDetails(Middleware):
    """Keep the error that killed a dead letter. Redis keeps the copy from the last
    enqueue, whose traceback is the try before; only the traceback is refreshed."""

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if not isinstance(broker, RedisBroker):
            return
        redis_id = message.options.get("redis_message_id")
        if redis_id is None:
            return
        traceback = message.options.get("traceback") or _described(message)
        key = f"{broker.namespace}:{q_name(message.queue_name)}.XQ.msgs"
        stored = broker.client.hget(key, redis_id)
        if traceback is None or not isinstance(stored, bytes):
            return
        dead = dramatiq.Message.decode(stored)
        broker.client.hset(key, redis_id, dead.copy(options={"traceback": traceback}).encode())


def _described(message: MessageProxy) -> str | None:
    """What killed a message that carries no traceback (dramatiq dead-letters a message
    for an undefined actor itself, with the exception stuffed into the proxy)."""
    exception = getattr(message, "_exception", None)
    return f"{type(exception).__name__}: {exception}" if exception is not None else None


def keep_dead_letter_errors(broker: dramatiq.Broker) -> None:
    """Give a consuming broker `DeadLetterDetails` once, however often workers start on it."""
    if not any(isinstance(m, DeadLetterDetails) for m in broker.middleware):
        broker.add_middleware(DeadLetterDetails())


def broker_answers(broker: dramatiq.Broker) -> bool:
    """Whether the broker answers now; the in-process one is up as long as this process is."""
    if not isinstance(broker, RedisBroker):
        return True
    try:
        return bool(broker.client.ping())
    except redis.RedisError:
        return False


def queue_of(name: str) -> str:
    """The queue a delay or dead-letter queue name (`q.DQ`, `q.XQ`) belongs to."""
    return q_name(name)


def _take(
    broker: dramatiq.Broker, letter: DeadLetter, requeue: Callable[[DeadLetter], object]
) -> bool:
    """Remove one dead letter and `requeue` it; False when it was already gone (replayed or
    purged by someone else), so two operators replaying at once never double a message.
    A failed requeue puts the dead letter back."""
    if isinstance(broker, RedisBroker):
        key, rid = f"{broker.namespace}:{letter.queue}.XQ", letter.key or ""
        if not broker.client.zrem(key, rid):
            return False
        try:
            requeue(letter)
        except BaseException:
            broker.client.zadd(key, {rid: letter.when_ms})
            raise
        broker.client.hdel(f"{key}.msgs", rid)
        return True
    entries = _stub(broker).dead_letters_by_queue[letter.queue]
    for index, entry in enumerate(entries):
        if entry is letter.entry:
            del entries[index]
            break
    else:
        return False
    try:
        requeue(letter)
    except BaseException:
        entries.append(entry)
        raise
    return True


def _redis_counts(broker: RedisBroker, queue: str) -> Counts:
    """One MULTI/EXEC snapshot: the counts agree with each other."""
    ns, client = broker.namespace, broker.client
    base, delayed = f"{ns}:{queue}", f"{ns}:{dq_name(queue)}"
    heartbeats: Any = client.zrange(f"{ns}:__heartbeats__", 0, -1)
    workers = [_text(w) for w in heartbeats]
    with client.pipeline(transaction=True) as pipe:
        pipe.llen(base)
        pipe.lrange(base, 0, DEFAULT_AGE_SAMPLE - 1)
        pipe.llen(delayed)
        pipe.hvals(f"{delayed}.msgs")
        pipe.zcard(f"{base}.XQ")
        for worker in workers:
            pipe.scard(f"{ns}:__acks__.{worker}.{queue}")
            pipe.scard(f"{ns}:__acks__.{worker}.{dq_name(queue)}")
        results: list[Any] = pipe.execute()
    ready, head, waiting_delayed, delayed_bodies, dead_count, *acks = results
    bodies = client.hmget(f"{base}.msgs", head) if head else []
    return Counts(
        ready=ready,
        delayed=waiting_delayed + sum(acks[1::2]),  # waiting + held by a worker until due
        in_flight=sum(acks[0::2]),
        dead=dead_count,
        oldest_ready_ms=_oldest(bodies),
        delayed_messages=_decoded(delayed_bodies),
    )


def _redis_dead(broker: RedisBroker, queue: str) -> list[DeadLetter]:
    key = f"{broker.namespace}:{queue}.XQ"
    entries: Any = broker.client.zrange(key, 0, -1, withscores=True)
    bodies = broker.client.hmget(f"{key}.msgs", [rid for rid, _ in entries]) if entries else []
    letters = []
    for (rid, score), body in zip(entries, bodies, strict=True):
        decoded = _decoded([body])
        if decoded:
            letters.append(DeadLetter(queue, decoded[0], int(score), key=_text(rid)))
    return letters


def _stub_counts(broker: StubBroker, queue: str) -> Counts:
    """The stub's delay consumer holds due-later messages out of the queue: they count as
    delayed (unfinished) but cannot be read, so their actors are not in `failures`."""
    main, delay = broker.queues[queue], broker.queues[dq_name(queue)]
    with main.mutex:
        waiting, unfinished = list(main.queue), main.unfinished_tasks
    with delay.mutex:
        waiting_delayed, unfinished_delayed = list(delay.queue), delay.unfinished_tasks
    return Counts(
        ready=len(waiting),
        delayed=unfinished_delayed,
        in_flight=unfinished - len(waiting),
        dead=len(broker.dead_letters_by_queue.get(queue, [])),
        oldest_ready_ms=_oldest(waiting[:DEFAULT_AGE_SAMPLE]),
        delayed_messages=_decoded(waiting_delayed),
    )


def _oldest(bodies: list[Any]) -> int | None:
    stamps = [m.message_timestamp for m in _decoded(bodies)]
    return min(stamps) if stamps else None


def _decoded(bodies: list[Any]) -> list[dramatiq.Message[Any]]:
    """Messages that decode; one that does not (gone meanwhile, or not dramatiq's) is skipped."""
    messages = []
    for body in bodies:
        if body is None:
            continue
        try:
            messages.append(dramatiq.Message.decode(body))
        except DecodeError:
            continue
    return messages


def _stub(broker: dramatiq.Broker) -> StubBroker:
    if not isinstance(broker, StubBroker):
        raise TypeError(f"queue inspection supports Redis and the stub broker, not {broker!r}")
    return broker


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fresh(message: dramatiq.Message[Any]) -> dramatiq.Message[Any]:
    dropped = {"redis_message_id", "traceback", "retries", "requeue_timestamp", "eta"}
    options = {k: v for k, v in message.options.items() if k not in dropped}
    return dramatiq.Message(
        queue_name=q_name(message.queue_name),
        actor_name=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options={**options, "retries": 0},
        message_id=message.message_id,
    )
