"""A pooled PostgreSQL connection is pinged before use only when it sat idle: a server
that dropped it costs a fresh connection, not a failed request, and a busy pool pays no
round trip per checkout."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from store import engine as engines
from tests.conftest import auth


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


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # the restart below is PostgreSQL's


def test_connections_the_server_dropped_cost_one_503_then_the_api_works_again(
    api: TestClient, project: dict[str, Any], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a PostgreSQL restart does to requests whose connections were used moments
    before (no ping): one clear, retryable 503, never the driver's text; the pool is
    renewed, so the retry succeeds."""
    headers = auth(project["owner_token"])
    assert api.get("/v1/projects/demo/registries", headers=headers).status_code == 200
    monkeypatch.setattr(engines, "PING_IDLE_AFTER_S", 1e9)  # used moments ago: no ping
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(engines.driver_url(postgres_url).replace("+psycopg", "")) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )

    refused = api.get("/v1/projects/demo/registries", headers=headers)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "unavailable"
    assert refused.headers["Retry-After"] == "1"
    assert "psycopg" not in refused.text and "terminat" not in refused.text

    assert api.get("/v1/projects/demo/registries", headers=headers).status_code == 200
