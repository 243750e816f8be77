"""Dramatiq actors: thin wrappers that decode a message and call its handler.

Actors are declared on the broker the composition root built, with the dependencies
it built; nothing here touches a global broker.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from events.broker import COMMAND_ACTOR, COMMANDS_QUEUE
from workers.commands import handle_command
from workers.deps import WorkerDeps
from workers.relay import relay_once

DEFAULT_COMMAND_TIME_LIMIT_MS = 60_000  # a command is store work only


def declare_actors(
    broker: dramatiq.Broker, deps: WorkerDeps
) -> dict[str, dramatiq.Actor[Any, Any]]:
    def command_actor(raw: dict[str, Any]) -> None:
        """Apply a command, then publish what it caused without waiting for the relay's poll.
        Rejections are outcomes, not errors: only store or broker failures are retried."""
        handle_command(raw, deps)
        relay_once(deps.uow, deps.broker)

    actors: dict[str, dramatiq.Actor[Any, Any]] = {
        COMMAND_ACTOR: dramatiq.actor(
            broker=broker,
            actor_name=COMMAND_ACTOR,
            queue_name=COMMANDS_QUEUE,
            max_retries=20,
            min_backoff=200,
            max_backoff=30_000,
            time_limit=DEFAULT_COMMAND_TIME_LIMIT_MS,
        )(command_actor),
    }
    return actors


def consumed_queues(actors: dict[str, dramatiq.Actor[Any, Any]]) -> set[str]:
    """The queues a worker should consume: only those its actors answer, so messages for
    actors this process does not run stay queued instead of failing."""
    return {actor.queue_name for actor in actors.values()}
