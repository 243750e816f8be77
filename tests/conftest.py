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
from tests.support.registry import RunningRegistry, start_registry
from tests.support.token_server import TokenServer

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


class NamespacedRedis(redis.Redis):
    """The real Redis, and the key prefix one test's broker uses."""

    namespace = "dramatiq"


@pytest.fixture
def redis_client() -> Iterator[NamespacedRedis]:
    """The real Redis; each test's broker gets its own key namespace, removed afterwards,
    so test runs never see (or flush) each other's queues."""
    client = NamespacedRedis.from_url(REDIS_URL)
    client.namespace = f"reglink-test-{uuid.uuid4().hex[:12]}"
    yield client
    keys = list(client.scan_iter(match=f"{client.namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    return settings_for(tmp_path, database_url, redis_client)


def settings_for(
    tmp_path: Path, database_url: str, redis_client: NamespacedRedis, **overrides: Any
) -> Settings:
    """Settings for one test: its own database and broker namespace, loopback registries
    allowed over plain http, fast retries; a module overriding `settings` adds `overrides`."""
    values: dict[str, Any] = {
        "redis_namespace": redis_client.namespace,
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "insecure_hosts": ("127.0.0.1",),
        "allowed_networks": ("127.0.0.1/32",),
        "retry_backoff_ms": 50,
        "log_format": "json",
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = bootstrap(settings, create_keys=True)
    yield built
    built.broker.close()
    built.store.engine.dispose()


@pytest.fixture
def workers(container: Container) -> Iterator[Container]:
    """A real dramatiq Worker consuming only the commands queue, plus the outbox relay:
    what the command actor causes stays on the broker to be looked at."""
    with running_workers(container, threads=2, queues={"commands"}):
        yield container


@pytest.fixture
def all_workers(container: Container) -> Iterator[Container]:
    """Every actor, consuming every queue, plus the outbox relay."""
    with running_workers(container, threads=4):
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


USERS = {"alice": "alice-pw", "bob": "bob-pw"}  # registry accounts (htpasswd, token server)
REFRESH = "rt-alice-long-lived"  # alice's OAuth2 refresh token at the token server


@pytest.fixture
def anon_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    """The real distribution registry, no auth, on a loopback port."""
    with start_registry(tmp_path, auth="anonymous") as registry:
        yield registry


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    """The real registry behind htpasswd (basic auth) with alice and bob."""
    with start_registry(tmp_path, auth="htpasswd", htpasswd_users=dict(USERS)) as registry:
        yield registry


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    """A Docker token server: alice and bob, alice's refresh token; bob may not list the catalog."""
    with TokenServer(
        tmp_path / "token", users=USERS, refresh_tokens={REFRESH: "alice"}, deny_catalog={"bob"}
    ) as server:
        yield server


@pytest.fixture
def token_registry(tmp_path: Path, token_server: TokenServer) -> Iterator[RunningRegistry]:
    """The real registry with token auth against `token_server`."""
    with start_registry(tmp_path, auth="token", token=token_server) as registry:
        yield registry


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def registries_in(container: Container) -> list[Registry]:
    with container.uow() as uow:
        return list(uow.session.exec(select(Registry)))


@pytest.fixture(autouse=True, scope="session")
def private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`reglink up` records itself under XDG_STATE_HOME: tests keep that to themselves, so
    no test finds (or leaves behind) the developer's own running reglink."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before
