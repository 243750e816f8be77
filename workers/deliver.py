"""Delivery: POST signed CloudEvents to build jobs' webhooks, a batch at a time.

Secrets are read and decrypted at send time (the broker message holds delivery ids
only), once per registry for the whole batch. Versions only move forward: a delivery
for an older version than the registry's current one, or than what the job already
acknowledged, is superseded instead of sent, and a lease per (job, registry) keeps two
sends to the same job from crossing. A batch is one transaction to claim, concurrent
POSTs, and one transaction to record what they got; a delivery that must wait or be
tried again comes back as a message of its own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import dramatiq
import structlog

from events.deliveries import cloud_event, docker_config
from events.messages import DeliverWebhook, DeliverWebhooks
from events.validation import host_port
from store import deliveries
from store.credentials import open_secret
from store.deliveries import Claimed
from store.health import age_seconds
from store.secrets import SecretBox
from store.tables import Delivery
from store.uow import UnitOfWork, UnitOfWorkFactory
from workers.metrics import DELIVERY_LATENCY, Deferred
from workers.outbound.webhook_sender import Answer, Post, Sender

log = structlog.get_logger(__name__)
DEFAULT_LEASE = timedelta(seconds=120)  # longer than one batch's sends may take
DEFAULT_LEASE_WAIT_MS = 250  # come back this soon when another send holds the lease
DEFAULT_NO_SLOT_WAIT_MS = 2_000  # and this soon when the receiver's host had no free slot
RETRY_STATUSES = {408, 409, 429}


@dataclass(frozen=True)
class Webhooks:
    """What a delivery needs: the store, the secrets' box, the sender, and the retry rule
    (`backoff(attempt, retry_after)` in ms)."""

    uow: UnitOfWorkFactory
    box: SecretBox
    sender: Sender
    max_attempts: int
    backoff: Callable[[int, float | None], int]


@dataclass
class Outcome:
    """What became of a batch: each delivery's outcome (`delivered`, `retry`, `busy`,
    `dead`, `superseded`, `done`), and when each to try again should come back (ms)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    again_in_ms: dict[str, int] = field(default_factory=dict)


def deliver(delivery_ids: Sequence[str], hooks: Webhooks) -> Outcome:
    """Send the deliveries that may go now and record what they got."""
    outcome = Outcome()
    posts, claimed = _prepare(hooks, delivery_ids, outcome)
    if not posts:
        return outcome
    answers = hooks.sender.send_all(posts)
    _settle(hooks, claimed, answers, outcome)
    return outcome


def deliver_one(message: DeliverWebhook, hooks: Webhooks) -> str:
    """One delivery (a retry, a replay, a redrive): waiting for the lease and trying again
    both come back as a retry of this message."""
    delivery_id = message.delivery_id
    outcome = deliver([delivery_id], hooks)
    result = outcome.outcomes[delivery_id]
    if result == "busy":
        delay = outcome.again_in_ms[delivery_id]
        raise Deferred("waits its turn: the job's lease or a slot for its host", delay=delay)
    if result == "retry":
        raise dramatiq.Retry("the delivery failed", delay=outcome.again_in_ms[delivery_id])
    return result


def deliver_batch(
    message: DeliverWebhooks, hooks: Webhooks, again: Callable[[str, int], None]
) -> Outcome:
    """A fan-out's batch: each delivery that must wait or be tried again is handed to
    `again(delivery id, delay ms)`, to come back as a message of its own."""
    outcome = deliver(message.delivery_ids, hooks)
    for delivery_id, delay_ms in outcome.again_in_ms.items():
        again(delivery_id, delay_ms)
    return outcome


def _prepare(
    hooks: Webhooks, delivery_ids: Sequence[str], outcome: Outcome
) -> tuple[list[Post], dict[str, Delivery]]:
    """What to send, in one short transaction that also takes the (job, registry) leases."""
    with hooks.uow() as uow:
        claims = deliveries.claim(uow.session, delivery_ids, DEFAULT_LEASE)
        posts: list[Post] = []
        claimed: dict[str, Delivery] = {}
        extras: dict[str, dict[str, object]] = {}  # per registry: its secret opened once
        for delivery_id, claim in claims.items():
            if isinstance(claim, str):
                outcome.outcomes[delivery_id] = claim
                if claim == "busy":
                    outcome.again_in_ms[delivery_id] = DEFAULT_LEASE_WAIT_MS
                continue
            registry_id = claim.registry.id
            if claim.delivery.kind == "updated" and registry_id not in extras:
                extras[registry_id] = _registry_extra(uow, hooks.box, claim)
            posts.append(_post(hooks.box, claim, extras.get(registry_id, {})))
            claimed[delivery_id] = claim.delivery
        uow.commit()
        return posts, claimed


def _registry_extra(uow: UnitOfWork, box: SecretBox, claim: Claimed) -> dict[str, object]:
    """What an `updated` delivery tells about the registry: the config.json entry holding
    the current credentials, and its private CA."""
    registry = claim.registry
    host = host_port(registry.url)[0]
    secret = open_secret(uow.session, box, registry.id, host)
    extra: dict[str, object] = {
        "config": docker_config(registry.url, registry.auth, registry.username, secret)
    }
    if registry.ca_pem:
        extra["ca"] = registry.ca_pem
    return extra


def _post(box: SecretBox, claim: Claimed, registry_extra: dict[str, object]) -> Post:
    delivery, registry = claim.delivery, claim.registry
    extra = dict(delivery.details)
    if delivery.kind == "updated":
        extra.update(registry_extra)
    event = cloud_event(
        delivery.id,
        delivery.kind,
        project=claim.project,
        registry=registry.name,
        url=registry.url,
        version=delivery.version,
        sequence=delivery.sequence,
        extra=extra,
    )
    return Post(
        delivery.id,
        claim.job.webhook_url,
        deliveries.job_secret(box, claim.job),
        json.dumps(event).encode(),
    )


def _settle(
    hooks: Webhooks, claimed: dict[str, Delivery], answers: dict[str, Answer], outcome: Outcome
) -> None:
    """Record every try in one transaction: successes in a few statements, failures one
    by one (they are few)."""
    sent = [(claimed[i], a.status) for i, a in answers.items() if a.ok and a.status is not None]
    untried = [i for i, a in answers.items() if not a.tried]
    with hooks.uow() as uow:
        deliveries.delivered(uow.session, sent)
        deliveries.release(uow.session, untried)  # not sent after all: no try is counted
        for delivery_id in untried:
            outcome.outcomes[delivery_id] = "busy"
            outcome.again_in_ms[delivery_id] = DEFAULT_NO_SLOT_WAIT_MS
        for delivery_id, answer in answers.items():
            if answer.ok or not answer.tried:
                continue
            status = answer.status
            retryable = status is None or status >= 500 or status in RETRY_STATUSES
            result, attempts = deliveries.settle(
                uow.session,
                delivery_id,
                status,
                answer.error,
                retryable=retryable,
                max_attempts=hooks.max_attempts,
            )
            outcome.outcomes[delivery_id] = result
            if result == "retry":
                outcome.again_in_ms[delivery_id] = _retry_delay(hooks, attempts, answer)
        uow.commit()
    for delivery, _ in sent:
        outcome.outcomes[delivery.id] = "delivered"
        DELIVERY_LATENCY.observe(age_seconds(delivery.created_at))
    failed = {i: o for i, o in outcome.outcomes.items() if o in ("retry", "dead")}
    if failed:  # a delivered webhook is routine; a failed try is news
        log.info(
            "delivery.failed",
            deliveries=len(failed),
            dead=sum(o == "dead" for o in failed.values()),
            errors=sorted({str(answers[i].error) for i in failed}),
        )


def _retry_delay(hooks: Webhooks, attempts: int, answer: Answer) -> int:
    """Exponential backoff with jitter that spreads retries out, never ahead of the
    receiver's Retry-After."""
    delay = int(hooks.backoff(attempts - 1, None) * random.uniform(0.75, 1.25))
    if answer.retry_after is not None:
        delay = max(delay, hooks.backoff(0, answer.retry_after))
    return delay
