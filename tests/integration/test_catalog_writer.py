"""A crawl's rows reach the store in full batches as it goes (counted as its progress),
and the last, partial batch in the transaction that switches browsing to them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import col, func, select

from events.envelope import Envelope
from events.messages import RegistryVerified
from store.catalog import CatalogWriter, switch_generation
from store.tables import CatalogRepository, CatalogTag, Registry
from store.targets import Target
from store.uow import UnitOfWork, UnitOfWorkFactory, uow_factory
from tests.support.seeded_store import store_with_registry

BATCH = 3


@pytest.fixture
def uow(database_url: str) -> Iterator[UnitOfWorkFactory]:
    with store_with_registry(
        database_url, name="hub", active_name="hub", status="verified"
    ) as engine:
        yield uow_factory(engine)


def _written(unit: UnitOfWork, generation: str) -> int:
    statement = select(func.count()).where(col(CatalogTag.generation) == generation)
    return int(unit.session.exec(statement).one())


def _registry(unit: UnitOfWork) -> Registry:
    registry = unit.session.get(Registry, "r")
    assert registry is not None
    return registry


def _crawl_of_hub() -> tuple[Envelope, Target]:
    verified = RegistryVerified(
        project="demo", registry_id="r", name="hub", version=1, catalog="supported"
    )
    target = Target("r", "demo", "hub", "http://x", 1, "anonymous", None, None)
    return Envelope.wrap(verified), target


def test_full_batches_are_written_as_they_fill_and_the_rest_when_the_crawl_switches(
    uow: UnitOfWorkFactory,
) -> None:
    writer = CatalogWriter(uow, "r", str(uuid.uuid4()), batch=BATCH)
    for i in range(7):
        writer.add_tag("app", f"t{i}")
    writer.add_repository("app", 7)

    with uow() as unit:  # two full batches of three, counted as progress
        assert _written(unit, writer.generation) == 6
        assert (_registry(unit).crawl_seen_tags, _registry(unit).catalog_generation) == (6, None)

    cause, target = _crawl_of_hub()
    crawled = switch_generation(uow, cause, target, writer, "crawl_registry")

    assert crawled is not None and (crawled.repositories, crawled.tags) == (1, 7)
    with uow() as unit:
        registry = _registry(unit)
        assert registry.catalog_generation == writer.generation
        assert (registry.tag_count, registry.crawl_seen_tags) == (7, 7)
        assert _written(unit, writer.generation) == 7
        repositories = unit.session.exec(select(CatalogRepository.name)).all()
        assert repositories == ["app"]


def test_a_crawl_whose_registry_went_writes_nothing_more(uow: UnitOfWorkFactory) -> None:
    writer = CatalogWriter(uow, "r", str(uuid.uuid4()), batch=BATCH)
    for i in range(4):
        writer.add_tag("app", f"t{i}")
    with uow() as unit:
        registry = _registry(unit)
        registry.active_name = None  # unlinked meanwhile
        unit.add(registry)
        unit.commit()

    cause, target = _crawl_of_hub()
    assert switch_generation(uow, cause, target, writer, "crawl_registry") is None
    with uow() as unit:
        assert _written(unit, writer.generation) == 0, "the written batch was dropped too"
