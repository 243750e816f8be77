"""`reglink ops` on the in-process StubBroker of `reglink up`: the same figures, dead
letters and replay as on Redis, read from the stub's own queues."""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from events.broker import make_broker, publish
from events.envelope import Envelope
from events.messages import CrawlRegistry
from gateway.ops import dead_letters, last_error, purge, queue_stats, replay
from tests.polling import wait_until


def crawl_row(broker: dramatiq.Broker) -> dict[str, Any]:
    return next(row for row in queue_stats(broker) if row["queue"] == "crawl")


def test_stub_broker_figures_dead_letters_and_replay() -> None:
    broker = make_broker(None)  # what `reglink up` runs on
    assert isinstance(broker, StubBroker)
    healed = threading.Event()
    succeeded: list[str] = []

    def flaky(envelope: dict[str, Any]) -> None:
        if not healed.is_set():
            raise RuntimeError("catalog refused: token='abc123xyz'")
        succeeded.append(envelope["commandid"])

    dramatiq.actor(broker=broker, actor_name="flaky", queue_name="crawl", max_retries=0)(flaky)
    sent = [Envelope.wrap(CrawlRegistry(project="demo", name=f"r{i}")) for i in range(2)]
    for envelope in sent:
        publish(broker, envelope, actor_name="flaky", queue_name="crawl")
    publish(broker, sent[0], actor_name="flaky", queue_name="crawl", delay_ms=60_000)
    row = crawl_row(broker)
    assert (row["ready"], row["delayed"], row["in_flight"], row["dead"]) == (2, 1, 0, 0)
    assert row["oldest_ready_age_s"] is not None and row["oldest_ready_age_s"] < 5
    broker.flush("crawl.DQ")  # the delayed one was only there to be counted

    worker = dramatiq.Worker(broker, queues={"crawl"}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join("crawl", fail_fast=False, timeout=5000)
        row = crawl_row(broker)
        assert (row["ready"], row["in_flight"], row["dead"]) == (0, 0, 2)
        assert row["failures"] == {"flaky": 2}
        letters = dead_letters(broker, "crawl")
        assert sorted(d["command_id"] for d in letters) == sorted(e.commandid for e in sent)
        assert all(d["redis_message_id"] is None for d in letters)
        for letter in letters:
            assert letter["last_error"].startswith("RuntimeError: catalog refused: token=")
            assert "abc123xyz" not in letter["last_error"]

        healed.set()
        assert replay(broker, [letters[0]["id"]]) == 1
        wait_until(lambda: succeeded == [letters[0]["command_id"]], what="replayed one runs")
        assert purge(broker) == 1
        assert crawl_row(broker)["dead"] == 0 and dead_letters(broker) == []
    finally:
        worker.stop(timeout=5000)


def test_last_error_is_the_redacted_last_line_of_the_traceback() -> None:
    traceback = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n'
        "httpx.HTTPError: GET https://bob:s3cr3t@registry.test/v2/ failed, "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x, {'password': 'hunter2'}\n"
    )
    error = last_error(traceback)
    assert error is not None and error.startswith("httpx.HTTPError: GET https")
    for secret in ("s3cr3t", "eyJhbGciOiJIUzI1NiJ9", "hunter2"):
        assert secret not in error
    assert last_error("x" * 1000) == "x" * 299 + "…"
    assert last_error(None) is None
