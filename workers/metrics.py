"""Worker metrics (Prometheus): messages processed, failed and retried per actor, and how
long they take (a dramatiq middleware, so every actor is counted the same way); what
webhook receivers answer and how long deliveries take to arrive."""

from __future__ import annotations

import time
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "reglink_messages_total", "Messages processed, by actor and outcome", ["actor", "outcome"]
)
DURATION = Histogram(
    "reglink_message_duration_seconds",
    "Time spent processing one message, by actor",
    ["actor"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
VERIFY_DURATION = Histogram(
    "reglink_verification_duration_seconds", "Time one registry verification took", ["outcome"]
)
CRAWL_DURATION = Histogram(
    "reglink_crawl_duration_seconds",
    "Time one catalog crawl took",
    ["outcome"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
WEBHOOK_RESPONSES = Counter(
    "reglink_webhook_responses_total",
    "Webhook POSTs by the receiver's status code (`none`: no answer, e.g. refused, timed out)",
    ["code"],
)
WEBHOOK_DURATION = Histogram(
    "reglink_webhook_request_duration_seconds",
    "Time one webhook POST took, answered or not",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DELIVERY_LATENCY = Histogram(
    "reglink_delivery_latency_seconds",
    "From a delivery's creation to the receiver's acknowledgement, retries included",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400),
)


class Deferred(dramatiq.Retry):
    """Not a failure: the message waits its turn (another send holds the lease), so it is
    counted as `deferred`, not `retried`."""


def webhook_answered(status_code: int | None, seconds: float) -> None:
    WEBHOOK_RESPONSES.labels("none" if status_code is None else str(status_code)).inc()
    WEBHOOK_DURATION.observe(seconds)


class Metrics(Middleware):
    """Counts every message's outcome: done, deferred (waiting its turn, no failure),
    retried (a failure with tries left) or failed (dead-lettered)."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = self._started.pop(message.message_id, None)
        if started is not None:
            DURATION.labels(message.actor_name).observe(time.perf_counter() - started)
        if exception is None:
            outcome = "done"
        elif isinstance(exception, Deferred):
            outcome = "deferred"
        else:
            # after-hooks run in reverse order: the Retries middleware has not counted
            # this try yet, and decides exactly like this
            actor = broker.get_actor(message.actor_name)
            retries = message.options.get("retries", 0)
            limit = message.options.get("max_retries", actor.options.get("max_retries", 20))
            outcome = "failed" if retries >= limit else "retried"
        MESSAGES.labels(message.actor_name, outcome).inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started.pop(message.message_id, None)
        MESSAGES.labels(message.actor_name, "skipped").inc()
