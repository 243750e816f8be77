"""Dramatiq actors: thin wrappers that decode a message and call its handler.

Actors are declared on the broker the composition root built, with the dependencies
it built; nothing here touches a global broker. Retries of network work are decided by
the handlers (they know which failures are transient and record the final outcome);
the actors' own `max_retries` only guard against store or broker failures.
"""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import CurrentMessage

from events.broker import COMMAND_ACTOR, COMMANDS_QUEUE
from events.envelope import parse_envelope
from workers.commands import handle_command
from workers.crawl import crawl_registry
from workers.deliver import deliver
from workers.deps import WorkerDeps
from workers.fanout import fan_out
from workers.metrics import Metrics
from workers.recheck import recheck_registry
from workers.relay import relay_once
from workers.routes import CRAWL, DELIVER, FANOUT, RECHECK, VERIFY, VERIFY_UPDATE
from workers.verify import verify_registry
from workers.verify_update import verify_update

DEFAULT_COMMAND_TIME_LIMIT_MS = 60_000  # a command is store work only
DEFAULT_VERIFY_TIME_LIMIT_MS = 180_000  # a few requests, each with its own deadline
DEFAULT_CRAWL_TIME_LIMIT_MS = 3_600_000  # a large catalog takes a while

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


def declare_actors(broker: dramatiq.Broker, deps: WorkerDeps) -> dict[str, Actor]:
    broker.add_middleware(Metrics())

    def command_actor(raw: dict[str, Any]) -> None:
        """Apply a command, then publish what it caused without waiting for the relay's poll.
        Rejections are outcomes, not errors: only store or broker failures are retried."""
        with journey(raw, "command"):
            handle_command(raw, deps)
            relay_once(deps.uow, deps.broker)

    def verify_actor(raw: dict[str, Any]) -> None:
        """Verify a registry's URL and credentials; transient failures come back later."""
        with journey(raw, "verify"):
            verify_registry(parse_envelope(raw), deps, attempt())
            relay_once(deps.uow, deps.broker)

    def verify_update_actor(raw: dict[str, Any]) -> None:
        """Verify proposed new details; only verified ones go into force."""
        with journey(raw, "verify_update"):
            verify_update(parse_envelope(raw), deps, attempt())
            relay_once(deps.uow, deps.broker)

    def recheck_actor(raw: dict[str, Any]) -> None:
        """Check that the details in force still work (scheduled)."""
        with journey(raw, "recheck"):
            recheck_registry(parse_envelope(raw), deps, attempt())
            relay_once(deps.uow, deps.broker)

    def fan_out_actor(raw: dict[str, Any]) -> None:
        """One delivery per build job that uses the registry."""
        with journey(raw, "fan_out"):
            fan_out(parse_envelope(raw), deps)

    def deliver_actor(raw: dict[str, Any]) -> None:
        """POST one signed delivery; its own retries live in the delivery row."""
        with journey(raw, "deliver"):
            deliver(parse_envelope(raw), deps)

    def crawl_actor(raw: dict[str, Any]) -> None:
        """Crawl a verified registry's catalog into a new snapshot."""
        with journey(raw, "crawl"):
            crawl_registry(parse_envelope(raw), deps, attempt())
            relay_once(deps.uow, deps.broker)

    safety: dict[str, Any] = {"max_retries": 10, "min_backoff": 500, "max_backoff": 60_000}
    return {
        COMMAND_ACTOR: dramatiq.actor(
            broker=broker,
            actor_name=COMMAND_ACTOR,
            queue_name=COMMANDS_QUEUE,
            time_limit=DEFAULT_COMMAND_TIME_LIMIT_MS,
            **safety,
        )(command_actor),
        VERIFY[0]: dramatiq.actor(
            broker=broker,
            actor_name=VERIFY[0],
            queue_name=VERIFY[1],
            time_limit=DEFAULT_VERIFY_TIME_LIMIT_MS,
            **{**safety, "max_retries": deps.verify_attempts + 5},
        )(verify_actor),
        CRAWL[0]: dramatiq.actor(
            broker=broker,
            actor_name=CRAWL[0],
            queue_name=CRAWL[1],
            time_limit=DEFAULT_CRAWL_TIME_LIMIT_MS,
            **safety,
        )(crawl_actor),
        VERIFY_UPDATE[0]: dramatiq.actor(
            broker=broker,
            actor_name=VERIFY_UPDATE[0],
            queue_name=VERIFY_UPDATE[1],
            time_limit=DEFAULT_VERIFY_TIME_LIMIT_MS,
            **{**safety, "max_retries": deps.verify_attempts + 5},
        )(verify_update_actor),
        RECHECK[0]: dramatiq.actor(
            broker=broker,
            actor_name=RECHECK[0],
            queue_name=RECHECK[1],
            time_limit=DEFAULT_VERIFY_TIME_LIMIT_MS,
            **{**safety, "max_retries": deps.verify_attempts + 5},
        )(recheck_actor),
        FANOUT[0]: dramatiq.actor(
            broker=broker,
            actor_name=FANOUT[0],
            queue_name=FANOUT[1],
            time_limit=DEFAULT_COMMAND_TIME_LIMIT_MS,
            **safety,
        )(fan_out_actor),
        DELIVER[0]: dramatiq.actor(
            broker=broker,
            actor_name=DELIVER[0],
            queue_name=DELIVER[1],
            time_limit=DEFAULT_VERIFY_TIME_LIMIT_MS,
            # lease waits and send retries both come back through Retry; the send count
            # that dead-letters a delivery is kept in its row
            **{**safety, "max_retries": 1000},
        )(deliver_actor),
    }


def consumed_queues(actors: dict[str, Actor]) -> set[str]:
    """The queues a worker should consume: only those its actors answer, so messages for
    actors this process does not run stay queued instead of failing."""
    return {actor.queue_name for actor in actors.values()}
