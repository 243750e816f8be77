"""Dramatiq actors: thin wrappers that decode a message and call its handler.

Actors are declared on the broker the composition root built, with the dependencies
it built; nothing here touches a global broker. Retries of network work are decided by
the handlers (they know which failures are transient and record the final outcome);
the actors' own `max_retries` only guard against store or broker failures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import CurrentMessage

from events.envelope import parse_envelope
from workers.commands import handle_command
from workers.crawl import crawl_registry
from workers.deliver import deliver
from workers.deps import WorkerDeps
from workers.fanout import fan_out
from workers.metrics import Metrics
from workers.recheck import recheck_registry
from workers.relay import relay_once
from workers.routes import (
    COMMAND_ROUTE,
    CRAWL,
    DELIVER,
    FANOUT,
    RECHECK,
    VERIFY,
    VERIFY_UPDATE,
    Route,
)
from workers.verify import verify_registry
from workers.verify_update import verify_update

DEFAULT_COMMAND_TIME_LIMIT_MS = 60_000  # a command is store work only
DEFAULT_VERIFY_TIME_LIMIT_MS = 180_000  # a few requests, each with its own deadline
DEFAULT_CRAWL_TIME_LIMIT_MS = 3_600_000  # a large catalog takes a while
DEFAULT_SAFETY_RETRIES = 10  # store or broker failures inside a handler

Actor = dramatiq.Actor[Any, Any]


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


@dataclass(frozen=True)
class Spec:
    """How one actor runs: its route, its handler, and the options that matter."""

    route: Route
    handle: Callable[[Any, WorkerDeps, int], object]  # (raw message, deps, attempt)
    time_limit_ms: int
    max_retries: int = DEFAULT_SAFETY_RETRIES
    relay_after: bool = True  # publish what the handler caused without waiting for the poll


def decoded(
    handler: Callable[..., object], *, with_attempt: bool = True
) -> Callable[[Any, WorkerDeps, int], object]:
    """Adapt an envelope handler to the raw message dramatiq hands the actor."""
    if with_attempt:
        return lambda raw, deps, attempt: handler(parse_envelope(raw), deps, attempt)
    return lambda raw, deps, _attempt: handler(parse_envelope(raw), deps)


def specs(deps: WorkerDeps) -> list[Spec]:
    """The actors, one line each. Network handlers decide their own retries (they know
    which failures are transient and record the final outcome); `max_retries` here only
    guards against store or broker failures, except for deliveries, whose lease waits and
    send retries both come back through `Retry` (the send count lives in the row)."""
    network = deps.verify_attempts + 5
    return [
        # the command handler decodes (and rejects) its own envelope
        Spec(
            COMMAND_ROUTE, lambda raw, d, _: handle_command(raw, d), DEFAULT_COMMAND_TIME_LIMIT_MS
        ),
        Spec(VERIFY, decoded(verify_registry), DEFAULT_VERIFY_TIME_LIMIT_MS, network),
        Spec(VERIFY_UPDATE, decoded(verify_update), DEFAULT_VERIFY_TIME_LIMIT_MS, network),
        Spec(RECHECK, decoded(recheck_registry), DEFAULT_VERIFY_TIME_LIMIT_MS, network),
        Spec(CRAWL, decoded(crawl_registry), DEFAULT_CRAWL_TIME_LIMIT_MS),
        Spec(
            FANOUT, decoded(fan_out, with_attempt=False), DEFAULT_COMMAND_TIME_LIMIT_MS, 10, False
        ),
        Spec(
            DELIVER, decoded(deliver, with_attempt=False), DEFAULT_VERIFY_TIME_LIMIT_MS, 1000, False
        ),
    ]


def declare_actors(broker: dramatiq.Broker, deps: WorkerDeps) -> dict[str, Actor]:
    broker.add_middleware(Metrics())
    return {spec.route[0]: _declare(broker, deps, spec) for spec in specs(deps)}


def _declare(broker: dramatiq.Broker, deps: WorkerDeps, spec: Spec) -> Actor:
    actor_name, queue_name = spec.route

    def run(raw: dict[str, Any]) -> None:
        """Decode the envelope, call the handler, publish what it caused."""
        with journey(raw, actor_name):
            spec.handle(raw, deps, attempt())
            if spec.relay_after:
                relay_once(deps.uow, deps.broker)

    return dramatiq.actor(
        broker=broker,
        actor_name=actor_name,
        queue_name=queue_name,
        time_limit=spec.time_limit_ms,
        max_retries=spec.max_retries,
        min_backoff=500,
        max_backoff=60_000,
    )(run)


def consumed_queues(actors: dict[str, Actor]) -> set[str]:
    """The queues a worker should consume: only those its actors answer, so messages for
    actors this process does not run stay queued instead of failing."""
    return {actor.queue_name for actor in actors.values()}
