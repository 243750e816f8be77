"""A pooled PostgreSQL connection is pinged before use only when it sat idle: a server
that dropped it costs a fresh connection, not a failed request, and a busy pool pays no
round trip per checkout."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from store import engine as engines


def _backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engines.make_engine(postgres_url)
    try:
        first = _backend_pid(engine)
        with psycopg.connect(engines.driver_url(postgres_url).replace("+psycopg", "")) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        monkeypatch.setattr(engines, "PING_IDLE_AFTER_S", 0.0)  # it counts as idle now

        second = _backend_pid(engine)  # no error: the ping found it dead
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engines.make_engine(postgres_url)
    pings: list[object] = []
    original = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or original(c))
    try:
        pid = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == pid  # the same pooled connection
        assert pings == []

        monkeypatch.setattr(engines, "PING_IDLE_AFTER_S", 0.0)
        assert _backend_pid(engine) == pid
        assert len(pings) == 1, "an idle connection is pinged once before use"
    finally:
        engine.dispose()
