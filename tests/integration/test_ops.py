"""`reglink ops` on the real RedisBroker with real dramatiq workers: the figures and dead
letters come from what Redis holds, the last error is redacted, replay brings dead
letters back to life, and only operators (a role granted with `reglink admin`) may look or act."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from events.broker import publish
from events.envelope import Envelope
from events.messages import CrawlRegistry
from gateway import cli_ops
from gateway.admin import set_operator
from gateway.bootstrap import Container
from gateway.cli import app
from gateway.client import ApiClient
from gateway.settings import Settings
from store.queues import keep_dead_letter_errors
from store.tables import AuditEntry
from tests.conftest import auth
from tests.polling import wait_until
from workers.metrics import Metrics

SECRET = "hunter2"  # in the exception text; must never reach an operator


def envelopes(count: int) -> list[Envelope]:
    run = uuid.uuid4().hex[:8]
    return [
        Envelope.wrap(
            CrawlRegistry(project="demo", name=f"hub{i}"),
            command_id=f"cmd-{run}-{i}",
            correlation_id=f"corr-{run}-{i}",
        )
        for i in range(count)
    ]


def failing_actor(
    broker: dramatiq.Broker, healed: threading.Event, succeeded: list[str], max_retries: int = 2
) -> None:
    """Fails (quoting a password, as careless code does) until `healed` is set."""

    def always_fails(envelope: dict[str, Any]) -> None:
        if not healed.is_set():
            raise RuntimeError(f"registry refused the push: password={SECRET}")
        succeeded.append(envelope["commandid"])

    dramatiq.actor(
        broker=broker,
        actor_name="always_fails",
        queue_name="verify",
        max_retries=max_retries,
        min_backoff=10,
        max_backoff=20,
    )(always_fails)


@contextmanager
def consuming(broker: dramatiq.Broker, queue: str) -> Iterator[dramatiq.Worker]:
    keep_dead_letter_errors(broker)  # as `reglink worker` has it
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=5000)


def metric(api: TestClient, series: str, token: str) -> float:
    """One series' value from /metrics (0 when absent), read with an operator's token."""
    for line in api.get("/metrics", headers=auth(token)).text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def queue_row(api: TestClient, token: str, queue: str) -> dict[str, Any]:
    response = api.get("/v1/ops/queues", headers=auth(token))
    assert response.status_code == 200, response.text
    return next(row for row in response.json()["queues"] if row["queue"] == queue)


def settles(probe: Callable[[], dict[str, Any]], **expected: Any) -> Callable[[], bool]:
    return lambda: expected.items() <= probe().items()


@pytest.fixture
def project(project: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`demo`, and its owner alice made an operator: owning a project does not make one."""
    set_operator(settings, "alice", True)
    return project


@pytest.fixture
def cli(api: TestClient, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`reglink ops …` as alice, talking to the test's app in-process (no server needed)."""

    def client() -> ApiClient:
        wired = ApiClient(str(api.base_url), project["owner_token"])
        wired._http = TestClient(api.app, headers=auth(project["owner_token"]))
        return wired

    monkeypatch.setattr(cli_ops, "_client", client)
    return CliRunner()


def test_dead_letters_are_counted_listed_redacted_and_replayed(
    container: Container, api: TestClient, project: dict[str, Any], cli: CliRunner
) -> None:
    healed = threading.Event()
    succeeded: list[str] = []
    container.broker.add_middleware(Metrics())  # as the workers' own actors have it
    failing_actor(container.broker, healed, succeeded)
    sent = envelopes(3)
    token = project["owner_token"]
    failed_before = metric(
        api, 'reglink_messages_total{actor="always_fails",outcome="failed"}', token
    )
    with consuming(container.broker, "verify"):
        for envelope in sent:
            publish(container.broker, envelope, actor_name="always_fails", queue_name="verify")
        wait_until(
            settles(lambda: queue_row(api, token, "verify"), dead=3, in_flight=0, delayed=0),
            timeout=8,
            what="3 dead letters",
        )
        rows = api.get("/v1/ops/queues", headers=auth(token)).json()["queues"]
        assert [r["queue"] for r in rows] == ["commands", "verify", "crawl", "fanout", "deliveries"]
        assert queue_row(api, token, "verify") == {
            "queue": "verify",
            "ready": 0,
            "delayed": 0,
            "in_flight": 0,
            "dead": 3,
            "oldest_ready_age_s": None,
            "failures": {"always_fails": 3},
        }
        assert all(r["dead"] == 0 and r["failures"] == {} for r in rows if r["queue"] != "verify")
        assert metric(api, 'reglink_queue_messages{queue="verify",state="dead"}', token) == 3
        failed = metric(api, 'reglink_messages_total{actor="always_fails",outcome="failed"}', token)
        assert failed - failed_before == 3

        letters = api.get("/v1/ops/dead-letters", headers=auth(token)).json()["dead_letters"]
        assert sorted(d["command_id"] for d in letters) == [e.commandid for e in sent]
        assert sorted(d["correlation_id"] for d in letters) == [e.correlationid for e in sent]
        assert sorted(d["id"] for d in letters) == sorted(e.id for e in sent)
        for letter in letters:
            assert (letter["queue"], letter["actor"], letter["retries"]) == (
                "verify",
                "always_fails",
                2,
            )
            assert letter["last_error"].startswith("RuntimeError: registry refused the push")
            assert SECRET not in letter["last_error"] and "[redacted]" in letter["last_error"]
            assert letter["redis_message_id"]
            assert abs(datetime.fromisoformat(letter["when"]).timestamp() - time.time()) < 60
        assert SECRET not in api.get("/v1/ops/dead-letters", headers=auth(token)).text

        listed = cli.invoke(app, ["ops", "dead-letters", "--queue", "verify", "--json"])
        assert listed.exit_code == 0, listed.output
        assert SECRET not in listed.output
        document = json.loads(listed.output)
        assert sorted(d["command_id"] for d in document["dead_letters"]) == [
            e.commandid for e in sent
        ]
        table = cli.invoke(app, ["ops", "queues"])
        assert table.exit_code == 0 and "always_fails=3" in table.output

        healed.set()
        replayed = cli.invoke(app, ["ops", "replay", "--all"])
        assert replayed.exit_code == 0, replayed.output
        assert "replayed 3" in replayed.output
        wait_until(lambda: len(succeeded) == 3, timeout=8, what="replayed messages succeed")
        wait_until(
            settles(lambda: queue_row(api, token, "verify"), dead=0, in_flight=0, failures={}),
            timeout=5,
            what="verify drained",
        )
    assert sorted(succeeded) == [e.commandid for e in sent]
    assert api.get("/v1/ops/dead-letters", headers=auth(token)).json() == {"dead_letters": []}


def test_one_dead_letter_replays_by_id_and_the_rest_is_purged_on_confirmation(
    container: Container, api: TestClient, project: dict[str, Any], cli: CliRunner
) -> None:
    healed = threading.Event()
    succeeded: list[str] = []
    failing_actor(container.broker, healed, succeeded, max_retries=0)
    sent = envelopes(2)
    token = project["owner_token"]
    with consuming(container.broker, "verify"):
        for envelope in sent:
            publish(container.broker, envelope, actor_name="always_fails", queue_name="verify")
        wait_until(settles(lambda: queue_row(api, token, "verify"), dead=2), what="2 dead")
        first = api.get("/v1/ops/dead-letters", headers=auth(token)).json()["dead_letters"][0]
        assert (first["actor"], first["retries"]) == ("always_fails", 0)
        healed.set()
        one = cli.invoke(app, ["ops", "replay", first["redis_message_id"], "--json"])
        assert one.exit_code == 0, one.output
        assert '"replayed": 1' in one.output
        wait_until(lambda: succeeded == [first["command_id"]], what="the replayed one succeeds")
        again = cli.invoke(app, ["ops", "replay", first["redis_message_id"]])
        assert again.exit_code == 1 and "not_found" in again.output

    unconfirmed = api.post("/v1/ops/dead-letters/purge", json={}, headers=auth(token))
    assert unconfirmed.status_code == 422
    declined = cli.invoke(app, ["ops", "purge", "--queue", "verify"], input="n\n")
    assert declined.exit_code == 1 and "Drop 1 dead letter(s) of queue verify" in declined.output
    assert queue_row(api, token, "verify")["dead"] == 1
    purged = cli.invoke(app, ["ops", "purge", "--yes"])
    assert purged.exit_code == 0 and "purged 1" in purged.output
    assert queue_row(api, token, "verify")["dead"] == 0
    with container.uow() as uow:
        actions = [(a.action, a.actor) for a in uow.session.exec(select(AuditEntry))]
    assert ("ops.replay", "alice") in actions and ("ops.purge", "alice") in actions


def test_in_flight_counts_a_message_an_actor_is_working_on(
    container: Container, api: TestClient, project: dict[str, Any]
) -> None:
    started, release = threading.Event(), threading.Event()

    def blocks(_envelope: dict[str, Any]) -> None:
        started.set()
        release.wait(10)

    dramatiq.actor(broker=container.broker, actor_name="blocks", queue_name="crawl")(blocks)
    token = project["owner_token"]
    with consuming(container.broker, "crawl"):
        try:
            publish(container.broker, envelopes(1)[0], actor_name="blocks", queue_name="crawl")
            assert started.wait(8), "the actor never started"
            row = queue_row(api, token, "crawl")
            assert (row["in_flight"], row["ready"], row["dead"]) == (1, 0, 0)
        finally:
            release.set()
        wait_until(settles(lambda: queue_row(api, token, "crawl"), in_flight=0), what="acked")


def test_ready_and_delayed_count_messages_no_worker_consumes(
    container: Container, api: TestClient, project: dict[str, Any]
) -> None:
    broker = container.broker
    for envelope in envelopes(3):
        publish(broker, envelope, actor_name="fan_out", queue_name="fanout")
    stale: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="fanout", actor_name="fan_out", args=(), kwargs={}, options={},
        message_timestamp=int(time.time() * 1000) - 30_000,
    )  # fmt: skip
    broker.enqueue(stale)  # at the tail: the oldest is not always at the head
    publish(broker, envelopes(1)[0], actor_name="fan_out", queue_name="fanout", delay_ms=60_000)
    retrying: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="fanout", actor_name="deliver", args=(), kwargs={}, options={"retries": 1}
    )
    broker.enqueue(retrying, delay=60_000)

    row = queue_row(api, project["owner_token"], "fanout")
    assert {k: row[k] for k in ("ready", "delayed", "in_flight", "dead", "failures")} == {
        "ready": 4,
        "delayed": 2,
        "in_flight": 0,
        "dead": 0,
        "failures": {"deliver": 1},
    }
    assert 30 <= row["oldest_ready_age_s"] < 90


def test_only_operators_may_look_or_act(api: TestClient, project: dict[str, Any]) -> None:
    member = auth(project["member_token"])  # bob: member of demo, owner of nothing
    calls = [
        ("GET", "/v1/ops/queues", None),
        ("GET", "/v1/ops/dead-letters", None),
        ("POST", "/v1/ops/dead-letters/replay", {"all": True}),
        ("POST", "/v1/ops/dead-letters/purge", {"confirm": True}),
    ]
    for method, path, body in calls:
        refused = api.request(method, path, json=body, headers=member)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
        assert api.request(method, path, json=body).status_code == 401
    owner = auth(project["owner_token"])
    unknown = api.get("/v1/ops/dead-letters", params={"queue": "nope"}, headers=owner)
    assert unknown.status_code == 422
    both = api.post("/v1/ops/dead-letters/replay", json={"all": True, "ids": ["x"]}, headers=owner)
    assert both.status_code == 422


def test_watch_refreshes_until_interrupted(
    container: Container, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    def pause(seconds: float) -> None:  # the second pause is where the operator hits Ctrl-C
        pauses.append(seconds)
        if len(pauses) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_ops, "sleep", pause)
    watched = cli.invoke(app, ["ops", "queues", "--watch", "--json"])
    assert watched.exit_code == 0, watched.output
    documents = [json.loads(line) for line in watched.output.splitlines()]
    assert len(documents) == 2 and pauses == [2.0, 2.0]
    assert [row["queue"] for row in documents[0]["queues"]][:2] == ["commands", "verify"]


def test_a_dead_letter_shows_the_error_of_its_last_try(
    container: Container, api: TestClient, project: dict[str, Any]
) -> None:
    tries: list[int] = []

    def counts_its_tries(envelope: dict[str, Any]) -> None:
        tries.append(1)
        raise RuntimeError(f"failure number {len(tries)}")

    dramatiq.actor(
        broker=container.broker, actor_name="fails_differently", queue_name="verify",
        max_retries=2, min_backoff=10, max_backoff=20,
    )(counts_its_tries)  # fmt: skip
    token = project["owner_token"]
    with consuming(container.broker, "verify"):
        publish(
            container.broker, envelopes(1)[0], actor_name="fails_differently", queue_name="verify"
        )
        wait_until(settles(lambda: queue_row(api, token, "verify"), dead=1, in_flight=0), timeout=8)
    letters = api.get("/v1/ops/dead-letters", headers=auth(token)).json()["dead_letters"]
    assert len(tries) == 3
    assert [d["last_error"] for d in letters] == ["RuntimeError: failure number 3"]
