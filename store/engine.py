"""Engines for SQLite (default) and PostgreSQL, and schema migration with Alembic."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc

_MIGRATIONS = str(Path(__file__).with_name("migrations"))
SQLITE_BUSY_TIMEOUT_S = 30  # how long a writer waits for the database file
PING_IDLE_AFTER_S = 5.0  # a pooled PostgreSQL connection idle longer is pinged before use
_HOLDS = "reglink_holds_write_lock"
_IDLE_SINCE = "reglink_idle_since"


def driver_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = driver_url(url)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
        engine = create_engine(url, connect_args=connect_args)
        _sqlite_write_transactions(engine)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle: a server restart or an
    idle timeout then costs a fresh connection, not a failed request. SQLAlchemy's
    `pool_pre_ping` pings on every checkout, a round trip that was one in eight of the
    statements a link cost; a connection used moments ago is alive (and if the server
    died in between, the disconnect invalidates the pool and the caller's retry runs on
    new connections)."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_IDLE_AFTER_S:
            return  # new, or used moments ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise exc.DisconnectionError("the connection did not answer a ping")


def _sqlite_write_transactions(engine: Engine) -> None:
    """Start every SQLite transaction with BEGIN IMMEDIATE: concurrent writers then queue
    instead of failing when a read turns into a write.

    Writers of this process queue on a lock of their own, taken before BEGIN and released
    at COMMIT or ROLLBACK: SQLite's busy handler polls with growing sleeps, so a thread
    would sleep on past the moment the file is free. The busy timeout still orders this
    process against others (a CLI writing to the same file)."""
    writing = threading.Lock()

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # past the busy timeout, go on without it: SQLite's own timeout decides, as before
        held = writing.acquire(timeout=SQLITE_BUSY_TIMEOUT_S)
        connection.info[_HOLDS] = held
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end(connection)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(connection: Any) -> None:
        if connection.info.pop(_HOLDS, False):
            writing.release()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # processes starting together (api, workers) migrate one at a time
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727100)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
