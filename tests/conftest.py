"""Fixtures over real parts: PostgreSQL and Redis on this machine, SQLite in tmp_path."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.admin import add_member, create_project
from gateway.api import create_app
from gateway.bootstrap import Container, bootstrap
from gateway.runners import running_workers
from gateway.settings import Settings
from store.tables import Registry

POSTGRES_ADMIN_URL = os.environ.get(
    "REGLINK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("REGLINK_TEST_REDIS", "redis://127.0.0.1:6379/9")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the real server, dropped afterwards."""
    name = f"reglink_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that uses the store runs on both kinds."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reglink.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The real Redis, with the test database emptied before and after."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: redis.Redis) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=REDIS_URL,
        insecure_hosts=("127.0.0.1",),
        log_format="json",
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = bootstrap(settings, create_keys=True)
    yield built
    built.broker.close()
    built.store.engine.dispose()


@pytest.fixture
def workers(container: Container) -> Iterator[Container]:
    """A real dramatiq Worker consuming the RedisBroker, plus the outbox relay."""
    with running_workers(container, threads=2):
        yield container


@pytest.fixture
def project(settings: Settings) -> dict[str, Any]:
    """Project `demo` with owner alice and member bob; their API tokens."""
    owner = create_project(settings, "demo", "alice")
    member = add_member(settings, "demo", "bob", "member")
    return {"name": "demo", "owner_token": owner["token"], "member_token": member["token"]}


@pytest.fixture
def api(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def registries_in(container: Container) -> list[Registry]:
    with container.uow() as uow:
        return list(uow.session.exec(select(Registry)))
