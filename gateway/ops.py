"""What the broker holds right now, as operators see it, read from the broker itself
(`store.queues`), never from a counter we keep: a counter drifts when a process dies,
the broker's own data does not."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, Literal

import dramatiq

from events.broker import QUEUES
from events.errors import InvalidInput
from gateway.logs import scrub
from store import queues
from store.queues import DeadLetter

DEFAULT_ERROR_CHARS = 300  # a dead letter's last error as shown; a traceback line can be long

# Which dead letters a caller may see and replay: all of them (operators), or those of
# one project (its owners).
Visible = Callable[[DeadLetter], bool]


def everything(_letter: DeadLetter) -> bool:
    return True


def envelope_of(letter: DeadLetter) -> dict[str, Any]:
    """The envelope a dead letter carries (every reglink actor takes one), or {}."""
    first = letter.message.args[0] if letter.message.args else None
    return first if isinstance(first, dict) else {}


def queue_stats(broker: dramatiq.Broker) -> list[dict[str, Any]]:
    """One row per queue of the contract, its delay queue counted under it, so an operator
    sees a backlog, stuck work and failing actors at a glance."""
    rows = []
    for queue in QUEUES:
        counts = queues.counts(broker, queue)
        dead = queues.dead(broker, queue)
        failures = Counter(letter.message.actor_name for letter in dead)
        failures.update(m.actor_name for m in counts.delayed_messages if _retries(m) > 0)
        now_ms = time.time() * 1000
        rows.append(
            {
                "queue": queue,
                "ready": counts.ready,
                "delayed": counts.delayed,
                "in_flight": counts.in_flight,
                "dead": counts.dead,
                "oldest_ready_age_s": (
                    None
                    if counts.oldest_ready_ms is None
                    else round(max(0.0, now_ms - counts.oldest_ready_ms) / 1000, 3)
                ),
                "failures": dict(sorted(failures.items())),
            }
        )
    return rows


def dead_letters(
    broker: dramatiq.Broker, queue: str | None = None, visible: Visible = everything
) -> list[dict[str, Any]]:
    """Dead letters, oldest first, with what an operator needs to decide on a replay: which
    command they belong to and why they failed (redacted: tracebacks quote arguments)."""
    return [
        _document(letter)
        for q in _queues(queue)
        for letter in queues.dead(broker, q)
        if visible(letter)
    ]


def replay(
    broker: dramatiq.Broker,
    ids: Collection[str] | Literal["all"],
    queue: str | None = None,
    visible: Visible = everything,
) -> int:
    """Put dead letters back on their queue with retries reset, once the cause is fixed.
    `ids` are dramatiq message ids or Redis message ids; only `visible` ones are touched.
    Returns how many went back."""
    wanted = None if ids == "all" else set(ids)
    replayed = 0
    for q in _queues(queue):
        for letter in queues.dead(broker, q):
            if wanted is not None and not {letter.message.message_id, letter.key} & wanted:
                continue
            if not visible(letter):
                continue
            if queues.replay(broker, letter):
                replayed += 1
    return replayed


def purge(broker: dramatiq.Broker, queue: str | None = None) -> int:
    """Drop dead letters for good (one queue or all); returns how many were dropped."""
    return sum(queues.purge(broker, q) for q in _queues(queue))


def _queues(queue: str | None) -> tuple[str, ...]:
    if queue is None:
        return QUEUES
    if queues.queue_of(queue) not in QUEUES:
        raise InvalidInput(f"unknown queue {queue!r}: one of {', '.join(QUEUES)}")
    return (queues.queue_of(queue),)


def _retries(message: dramatiq.Message[Any]) -> int:
    value = message.options.get("retries", 0)
    return value if isinstance(value, int) else 0


def _document(letter: DeadLetter) -> dict[str, Any]:
    message = letter.message
    envelope = envelope_of(letter)
    return {
        "id": message.message_id,
        "redis_message_id": letter.key,
        "queue": letter.queue,
        "actor": message.actor_name,
        "command_id": envelope.get("commandid"),
        "correlation_id": envelope.get("correlationid"),
        "last_error": last_error(message.options.get("traceback")),
        "retries": _retries(message),
        "when": datetime.fromtimestamp(letter.when_ms / 1000, UTC).isoformat(),
    }


def last_error(traceback: object) -> str | None:
    """The traceback's last line (`Type: message`), redacted and cut to a readable size."""
    if not isinstance(traceback, str):
        return None
    lines = [line.strip() for line in traceback.splitlines() if line.strip()]
    if not lines:
        return None
    text = str(scrub(lines[-1]))
    if len(text) > DEFAULT_ERROR_CHARS:
        text = text[: DEFAULT_ERROR_CHARS - 1] + "…"
    return text
