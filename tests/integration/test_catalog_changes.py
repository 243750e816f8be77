"""The re-crawl diff names what changed between two snapshots, counted in full and
named up to the cap, on both databases, whatever the table's statistics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from events.messages import DEFAULT_MAX_CHANGES
from store.catalog import catalog_changes
from store.tables import CatalogTag
from tests.support.seeded_store import store_with_registry


def _generation(session: Session, tags: list[tuple[str, str]]) -> str:
    generation = str(uuid.uuid4())
    rows = [
        {"registry_id": "r", "generation": generation, "repository": repo, "tag": tag}
        for repo, tag in tags
    ]
    session.execute(insert(CatalogTag), [{**row, "platforms": []} for row in rows])
    return generation


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    with store_with_registry(database_url, name="r") as engine, Session(engine) as session:
        yield session


def test_changes_are_counted_in_full_and_named_up_to_the_cap(session: Session) -> None:
    kept = [("app", f"k{i}") for i in range(5)]
    removed = [("old", f"r{i:05d}") for i in range(DEFAULT_MAX_CHANGES + 7)]
    old = _generation(session, kept + removed)
    new = _generation(session, [*kept, ("app", "new"), ("base", "1")])
    added_count, added, removed_count, named = catalog_changes(session, "r", new, old)
    assert (added_count, added) == (2, ("app:new", "base:1"))
    assert removed_count == DEFAULT_MAX_CHANGES + 7
    assert named == tuple(f"old:r{i:05d}" for i in range(DEFAULT_MAX_CHANGES))


def test_a_first_crawl_adds_everything_and_removes_nothing(session: Session) -> None:
    new = _generation(session, [("app", "1"), ("app", "2")])
    assert catalog_changes(session, "r", new, None) == (2, ("app:1", "app:2"), 0, ())
