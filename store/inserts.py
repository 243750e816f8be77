"""Dialect-aware INSERTs, for the ON CONFLICT clauses SQLite and PostgreSQL both speak."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert(session: Session, table: Any) -> Any:
    """`INSERT INTO table` in the session's dialect, so `on_conflict_do_…` can follow."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
