"""A migrated store holding one project and one registry, for tests of store functions
that need no more."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from store.engine import make_engine, migrate
from store.tables import Project, Registry


@contextmanager
def store_with_registry(database_url: str, **registry: Any) -> Iterator[Engine]:
    """Project `demo` (id `p`) and registry `r` in it, with the given fields; the engine
    is disposed of afterwards."""
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        session.add(Project(id="p", name="demo"))
        session.add(Registry(id="r", project_id="p", url="http://x", auth="anonymous", **registry))
        session.commit()
    try:
        yield engine
    finally:
        engine.dispose()
