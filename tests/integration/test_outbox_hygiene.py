"""The outbox stays lean: a handler that emitted nothing costs no relay pass, one that did
publishes exactly its own rows without a scan, and rows published long ago are pruned
while unpublished and recent ones stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker
from sqlmodel import select

from events.envelope import Envelope, utcnow
from events.messages import CrawlRequested
from store.engine import make_engine, migrate
from store.tables import OutboxMessage
from store.uow import UnitOfWorkFactory, tracking_emits, uow_factory
from workers.relay import prune, relay_once, relay_these


@pytest.fixture
def uow(database_url: str) -> Iterator[UnitOfWorkFactory]:
    engine = make_engine(database_url)
    migrate(engine)
    yield uow_factory(engine)
    engine.dispose()


def _event() -> Envelope:
    return Envelope.wrap(
        CrawlRequested(project="demo", registry_id="r", name="hub", version=1), actor="alice"
    )


def test_only_a_committed_outbox_row_counts_as_emitted(uow: UnitOfWorkFactory) -> None:
    with tracking_emits() as emits:
        with uow() as unit:
            unit.commit()  # a transaction that wrote nothing to the outbox
        with uow() as unit:
            unit.emit(_event())  # rolled back: never committed
    assert not emits.emitted
    with tracking_emits() as emits, uow() as unit:
        unit.emit(_event())
        unit.commit()
    assert emits.emitted


def test_rows_published_long_ago_are_pruned_and_the_rest_stay(uow: UnitOfWorkFactory) -> None:
    now = utcnow()
    published = {"old": now - timedelta(hours=2), "recent": now, "unpublished": None}
    with uow() as unit:
        for name, at in published.items():
            envelope = _event()
            unit.add(
                OutboxMessage(
                    id=name,
                    type=envelope.type,
                    envelope=envelope.model_dump(mode="json"),
                    published_at=at,
                )
            )
        unit.commit()
    assert prune(uow, older_than=timedelta(hours=1)) == 1
    with uow() as unit:
        left = {row.id for row in unit.session.exec(select(OutboxMessage))}
    assert left == {"recent", "unpublished"}


def published(broker: StubBroker) -> list[str]:
    """The envelope ids waiting on the stub broker's crawl queue, in order."""
    messages = [Message.decode(body) for body in broker.queues["crawl"].queue]
    return [m.args[0]["id"] for m in messages]


def test_a_handler_publishes_exactly_its_own_rows_once_and_the_poller_none_again(
    uow: UnitOfWorkFactory,
) -> None:
    broker = StubBroker()
    broker.declare_queue("crawl")
    routes = {CrawlRequested.TYPE: (("crawl_registry", "crawl"),)}
    with uow() as unit:  # another handler's row, not yet published
        other = _event()
        unit.emit(other)
        unit.commit()
    with tracking_emits() as emits, uow() as unit:
        mine = [_event(), _event()]
        for envelope in mine:
            unit.emit(envelope)
        unit.commit()
    assert [e.id for e in emits.envelopes] == [e.id for e in mine]

    assert relay_these(uow, broker, emits.envelopes, routes) == 2
    queued = published(broker)
    assert queued == [e.id for e in mine]  # in emit order; the other row is left alone
    assert relay_these(uow, broker, emits.envelopes, routes) == 0  # already published
    assert relay_once(uow, broker, routes) == 1  # the poller takes only the other row
    assert published(broker) == [*queued, other.id]
    with uow() as unit:
        rows = unit.session.exec(select(OutboxMessage)).all()
    assert all(row.published_at is not None and row.attempts == 1 for row in rows)
