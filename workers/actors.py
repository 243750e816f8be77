"""Dramatiq actors: thin adapters that decode a message, call its handler with the few
dependencies it uses, and apply the one retry policy.

Actors are declared on the broker the composition root built, with the dependencies it
built; nothing here touches a global broker. Queues and options come from
`workers.wiring.ACTORS`. A transient registry failure a handler raises (it had tries
left) comes back later as `dramatiq.Retry`, with exponential backoff and the server's
Retry-After as a floor; handlers record every other outcome themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import CurrentMessage

from events.broker import publish
from events.envelope import Envelope, parse_envelope, utcnow
from events.errors import CommandRejected
from events.messages import (
    DeliverWebhook,
    DeliverWebhooks,
    Message,
    RecheckRequested,
    RegistryEvent,
    RegistryLinkRequested,
    RegistryUpdateRequested,
)
from store.unfinished import note_retry
from store.uow import tracking_emits
from workers.command_actor import handle_command
from workers.crawl import DEFAULT_CRAWL_ATTEMPTS, CrawlLimits, crawl_registry
from workers.deliver import Webhooks, deliver_batch, deliver_one
from workers.deps import WorkerDeps
from workers.fanout import fan_out
from workers.metrics import Metrics
from workers.outbound.errors import OutboundError
from workers.outbound.webhook_sender import Sender
from workers.poison import Poison, PoisonMessages
from workers.recheck import recheck_registry
from workers.relay import relay_these
from workers.verify import verify_registry
from workers.verify_update import verify_update
from workers.wiring import ACTORS, DELIVER, ActorOptions

log = structlog.get_logger(__name__)
Actor = dramatiq.Actor[Any, Any]


@dataclass(frozen=True)
class Adapter:
    """How to call one actor's handler: `call(raw message, attempt)`, and how many tries
    a transient failure gets (0: the handler does not raise transient failures)."""

    call: Callable[[Any, int], object]
    tries: int = 0


def attempt() -> int:
    """How many times the current message was retried before this run."""
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) if message is not None else 0


def journey(raw: Any, actor: str) -> Any:
    """Bind the message's command and correlation ids to every log line it causes."""
    ids = raw if isinstance(raw, dict) else {}
    return structlog.contextvars.bound_contextvars(
        command_id=ids.get("commandid"), correlation_id=ids.get("correlationid"), actor=actor
    )


def _decoded(raw: Any, kind: type[Message] = Message) -> tuple[Message, Envelope]:
    """The message and its envelope; `Poison` when either breaks the contract."""
    try:
        envelope = parse_envelope(raw)
        message = envelope.message()
    except CommandRejected as exc:
        raise Poison(exc.message) from None
    if not isinstance(message, kind):
        raise Poison(f"{envelope.type} is not a {kind.__name__}")
    return message, envelope


def adapters(deps: WorkerDeps) -> dict[str, Adapter]:
    """One line per actor: the handler and the dependencies it is given."""
    network = {"uow": deps.uow, "box": deps.box, "clients": deps.registry_client}
    verify_tries = deps.verify_attempts
    crawl_limits = CrawlLimits(
        concurrency=deps.crawl_concurrency,
        backoff=deps.retry_delay_ms,
        budget_s=deps.crawl_budget_s,
        max_pages=deps.max_catalog_pages,
    )

    hooks = Webhooks(
        uow=deps.uow,
        box=deps.box,
        sender=Sender(deps.webhook_client, per_host=deps.webhook_concurrency),
        max_attempts=deps.delivery_attempts,
        backoff=deps.retry_delay_ms,
    )

    def deliver_later(raw: Any) -> Any:
        """Hands a batch's delivery that must wait or be tried again back to the broker."""
        message, envelope = _decoded(raw, DeliverWebhooks)

        def again(delivery_id: str, delay_ms: int) -> None:
            follow = envelope.follow(DeliverWebhook(delivery_id=delivery_id))
            actor_name, queue_name = DELIVER
            publish(
                deps.broker, follow, actor_name=actor_name, queue_name=queue_name, delay_ms=delay_ms
            )

        return deliver_batch(message, hooks, again)  # type: ignore[arg-type]

    def last(tries: int, attempt: int) -> bool:
        return attempt + 1 >= tries

    return {
        "handle_command": Adapter(
            lambda raw, _: handle_command(raw, deps.uow, deps.reseal, tuple(deps.insecure_hosts))
        ),
        "verify_registry": Adapter(
            lambda raw, n: verify_registry(
                *_decoded(raw, RegistryLinkRequested),  # type: ignore[arg-type]
                final=last(verify_tries, n),
                **network,  # type: ignore[arg-type]
            ),
            verify_tries,
        ),
        "verify_update": Adapter(
            lambda raw, n: verify_update(
                *_decoded(raw, RegistryUpdateRequested),  # type: ignore[arg-type]
                final=last(verify_tries, n),
                **network,  # type: ignore[arg-type]
            ),
            verify_tries,
        ),
        "recheck_registry": Adapter(
            lambda raw, n: recheck_registry(
                *_decoded(raw, RecheckRequested),  # type: ignore[arg-type]
                final=last(verify_tries, n),
                expiry_warning=timedelta(seconds=deps.expiry_warning_s),
                **network,  # type: ignore[arg-type]
            ),
            verify_tries,
        ),
        "crawl_registry": Adapter(
            lambda raw, n: crawl_registry(
                *_decoded(raw, RegistryEvent),  # type: ignore[arg-type]
                final=last(DEFAULT_CRAWL_ATTEMPTS, n),
                limits=crawl_limits,
                **network,  # type: ignore[arg-type]
            ),
            DEFAULT_CRAWL_ATTEMPTS,
        ),
        "fan_out": Adapter(
            lambda raw, _: fan_out(
                *_decoded(raw, RegistryEvent),  # type: ignore[arg-type]
                uow=deps.uow,
                broker=deps.broker,
            )
        ),
        "deliver_webhook": Adapter(
            lambda raw, _: deliver_one(_decoded(raw, DeliverWebhook)[0], hooks)  # type: ignore[arg-type]
        ),
        "deliver_webhooks": Adapter(lambda raw, _: deliver_later(raw)),
    }


def declare_actors(broker: dramatiq.Broker, deps: WorkerDeps) -> dict[str, Actor]:
    """The actors on `broker`; declared once, however many workers start on it."""
    for middleware in (Metrics, PoisonMessages):
        if not any(isinstance(m, middleware) for m in broker.middleware):
            broker.add_middleware(middleware())
    table = adapters(deps)
    return {
        name: broker.actors.get(name) or _declare(broker, deps, name, ACTORS[name], table[name])
        for name in ACTORS
    }


def _declare(
    broker: dramatiq.Broker, deps: WorkerDeps, name: str, options: ActorOptions, adapter: Adapter
) -> Actor:
    def run(raw: dict[str, Any]) -> None:
        """Call the handler; a transient failure comes back later; publish what it caused."""
        with journey(raw, name):
            tried = attempt()
            try:
                with tracking_emits() as emits:
                    adapter.call(raw, tried)
            except OutboundError as exc:
                if not exc.transient:
                    raise
                delay = deps.retry_delay_ms(tried, getattr(exc, "retry_after", None))
                log.warning(f"{name}.retrying", reason=exc.reason, attempt=tried, delay_ms=delay)
                _show_retry(deps, raw, name, tried + 1, exc.reason, delay)
                raise dramatiq.Retry(str(exc), delay=delay) from None
            if options.relay_after and emits.emitted:
                relay_these(deps.uow, deps.broker, emits.envelopes)

    return dramatiq.actor(
        broker=broker,
        actor_name=name,
        queue_name=options.queue,
        time_limit=options.time_limit_ms,
        max_retries=options.max_retries + adapter.tries,
        throws=(Poison,),  # failed at once, dead-lettered with the reason
        min_backoff=500,
        max_backoff=60_000,
    )(run)


def _show_retry(
    deps: WorkerDeps, raw: Any, step: str, attempt: int, reason: str, delay_ms: int
) -> None:
    """Record on the registry that this step is being retried, and when it comes back."""
    data = raw.get("data") if isinstance(raw, dict) else None
    registry_id = data.get("registry_id") if isinstance(data, dict) else None
    if not isinstance(registry_id, str):
        return
    at = utcnow() + timedelta(milliseconds=delay_ms)
    with deps.uow() as uow:
        note_retry(uow, registry_id, step=step, attempt=attempt, reason=reason, at=at)
        uow.commit()


def consumed_queues(actors: dict[str, Actor]) -> set[str]:
    """The queues a worker should consume: only those its actors answer, so messages for
    actors this process does not run stay queued instead of failing."""
    return {actor.queue_name for actor in actors.values()}
