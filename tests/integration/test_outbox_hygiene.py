"""The outbox stays lean: a handler that emitted nothing costs no relay pass, and rows
published long ago are pruned while unpublished and recent ones stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from events.envelope import Envelope, utcnow
from events.messages import CrawlRequested
from store.engine import make_engine, migrate
from store.tables import OutboxMessage
from store.uow import UnitOfWorkFactory, tracking_emits, uow_factory
from workers.relay import prune


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
