"""The API as a client generated from `/openapi.json` meets it: the real app over ASGI,
the real PostgreSQL and Redis, a project holding a verified, crawled registry and a build
job, and three callers (the project's owner, a member, an outsider)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient

from gateway.admin import add_member, create_project
from gateway.api import create_app
from gateway.bootstrap import Container
from gateway.runners import running_workers
from gateway.settings import Settings
from tests.conftest import auth
from tests.contract.known_names import JOB, REGISTRY, flatmap_path_parameters
from tests.integration.browse import link, settled
from tests.support.images import push_image
from tests.support.registry import RunningRegistry


@dataclass(frozen=True)
class Caller:
    role: str  # owner | member | outsider (of project demo)
    user: str
    token: str


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: it refuses what SQLite lets through (NUL characters, long values)."""
    return postgres_url


@pytest.fixture
def callers(settings: Settings) -> list[Caller]:
    owner = create_project(settings, "demo", "alice")
    member = add_member(settings, "demo", "bob", "member")
    outsider = create_project(settings, "other", "mallory")
    return [
        Caller("owner", "alice", owner["token"]),
        Caller("member", "bob", member["token"]),
        Caller("outsider", "mallory", outsider["token"]),
    ]


@pytest.fixture
def populated(
    container: Container, callers: list[Caller], anon_registry: RunningRegistry
) -> Container:
    """Project demo with registry `private` verified and crawled (one image), and job
    `build-1` using it; the workers stop before the fuzzing starts, so what it sends is
    recorded and stays queued."""
    push_image(anon_registry.url, "team/app", "1.0")
    token = callers[0].token
    with TestClient(create_app(container)) as api:
        with running_workers(container, threads=2):
            link(api, token, name=REGISTRY, url=anon_registry.url)
            assert settled(api, token, REGISTRY)["status"] == "verified"
        added = api.post(
            "/v1/projects/demo/jobs",
            json={"name": JOB, "webhook": "http://127.0.0.1:9/hooks"},
            headers=auth(token),
        )
        assert added.status_code == 201, added.text
        used = api.put(f"/v1/projects/demo/jobs/{JOB}/registries/{REGISTRY}", headers=auth(token))
        assert used.status_code == 200, used.text
    return container


@pytest.fixture
def api_schema(populated: Container) -> Iterator[Any]:
    app = create_app(populated)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.hook(flatmap_path_parameters)
    yield schema
