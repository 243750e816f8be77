"""Projects are isolated, and operators are a role of their own.

A matrix over every route of the API, called as the owner of p1, a member of p1, the owner
of p2, an operator (who owns only p3) and nobody: each answers exactly what the role
allows (401 without a token, 404 where the project is not the caller's, 403 where their
role in it does not suffice). Then the dead letters: an owner sees and replays their own
project's only, an operator sees all, and nothing of p1 reaches the owner of p2."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from events.broker import publish
from events.envelope import Envelope
from events.messages import CrawlRegistry, DeliverWebhook
from gateway.admin import add_member, create_project, set_operator
from gateway.api import create_app
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.identity import find_project
from store.jobs import find_job
from store.tables import CatalogRepository, CatalogTag, Delivery, Registry
from tests.conftest import auth

ROLES = ("anonymous", "owner_p2", "operator", "member_p1", "owner_p1")  # the owner acts last


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Who may do what is the gateway's rule, not the database's: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'reglink.db'}"


@dataclass
class World:
    tokens: dict[str, dict[str, str]]  # role -> headers
    command_id: str
    delivery_id: str
    letters: dict[str, list[str]]  # project -> its dead letters' ids


def _registry(container: Container, project: str, name: str) -> str:
    """A verified registry with one crawled repository, written as the lifecycle leaves it."""
    registry_id = str(uuid.uuid4())
    with container.uow() as uow:
        found = find_project(uow.session, project)
        uow.session.add(
            Registry(
                id=registry_id,
                project_id=found.id,
                name=name,
                active_name=name,
                url=f"https://{name}.example.test",
                auth="anonymous",
                status="verified",
                catalog="supported",
                catalog_generation="g1",
            )
        )
        uow.session.flush()
        uow.session.add(
            CatalogRepository(registry_id=registry_id, generation="g1", name="team/app")
        )
        uow.session.add(
            CatalogTag(registry_id=registry_id, generation="g1", repository="team/app", tag="1")
        )
        uow.commit()
    return registry_id


def _dead_letters(container: Container, envelopes: list[Envelope]) -> list[str]:
    """Dead letters on the real Redis broker, as an actor out of retries leaves them."""
    broker = container.broker
    for envelope in envelopes:
        publish(broker, envelope, actor_name="crawl_registry", queue_name="crawl")
    consumer = broker.consume("crawl", prefetch=len(envelopes), timeout=1000)
    try:
        taken: list[dramatiq.broker.MessageProxy] = []
        while len(taken) < len(envelopes):
            message = next(consumer)
            if message is not None:
                taken.append(message)
        for message in taken:
            consumer.nack(message)
    finally:
        consumer.close()
    return [envelope.id for envelope in envelopes]


@pytest.fixture
def world(container: Container, api: TestClient, settings: Settings) -> World:
    alice = create_project(settings, "p1", "alice")["token"]
    bob = add_member(settings, "p1", "bob", "member")["token"]
    carol = create_project(settings, "p2", "carol")["token"]
    dave = create_project(settings, "p3", "dave")["token"]
    set_operator(settings, "dave", True)
    tokens = {
        "anonymous": {},
        "owner_p1": auth(alice),
        "member_p1": auth(bob),
        "owner_p2": auth(carol),
        "operator": auth(dave),
    }
    hub = _registry(container, "p1", "hub")
    _registry(container, "p2", "hub2")
    job = api.post(
        "/v1/projects/p1/jobs",
        json={"name": "build", "webhook": "https://ci.example.test/hook"},
        headers=tokens["owner_p1"],
    )
    assert job.status_code == 201, job.text
    linked = api.post(
        "/v1/projects/p1/registries",
        json={"name": "first", "url": "https://first.example.test"},
        headers=tokens["owner_p1"],
    )
    assert linked.status_code == 202, linked.text
    delivery_id = str(uuid.uuid4())
    with container.uow() as uow:
        build = find_job(uow.session, find_project(uow.session, "p1"), "build")
        uow.session.add(
            Delivery(
                id=delivery_id,
                job_id=build.id,
                registry_id=hub,
                kind="updated",
                version=1,
                event_id="e1",
                status="dead",
                last_error="https://hub.example.test answered 500",
            )
        )
        uow.commit()
    letters = {
        "p1": _dead_letters(
            container,
            [
                Envelope.wrap(CrawlRegistry(project="p1", name="hub")),
                Envelope.wrap(DeliverWebhook(delivery_id=delivery_id)),
            ],
        ),
        "p2": _dead_letters(container, [Envelope.wrap(CrawlRegistry(project="p2", name="hub2"))]),
    }
    return World(tokens, linked.json()["command_id"], delivery_id, letters)


def owner_only(ok: int) -> dict[str, int]:
    return {"owner_p1": ok, "member_p1": 403, "owner_p2": 404, "operator": 404, "anonymous": 401}


def members(ok: int) -> dict[str, int]:
    return {"owner_p1": ok, "member_p1": ok, "owner_p2": 404, "operator": 404, "anonymous": 401}


OPERATORS = {"operator": 200, "owner_p1": 403, "member_p1": 403, "owner_p2": 403, "anonymous": 401}
ANYONE = dict.fromkeys(ROLES, 200)

P = "/v1/projects/{project}"
R = P + "/registries/{name}"
J = P + "/jobs/{job}"

# (method, route template, concrete path, JSON body, expected status per role)
Case = tuple[str, str, Callable[[World], str], dict[str, Any] | None, dict[str, int]]
MATRIX: list[Case] = [
    ("GET", "/healthz", lambda w: "/healthz", None, ANYONE),
    ("GET", "/readyz", lambda w: "/readyz", None, ANYONE),
    ("GET", "/metrics", lambda w: "/metrics", None, OPERATORS),
    ("GET", "/v1/keys/sealing", lambda w: "/v1/keys/sealing", None, ANYONE),
    ("GET", "/openapi.json", lambda w: "/openapi.json", None, ANYONE),
    ("GET", "/docs", lambda w: "/docs", None, ANYONE),
    ("GET", "/docs/oauth2-redirect", lambda w: "/docs/oauth2-redirect", None, ANYONE),
    ("GET", "/redoc", lambda w: "/redoc", None, ANYONE),
    ("GET", P + "/registries", lambda w: "/v1/projects/p1/registries", None, members(200)),
    ("GET", R, lambda w: "/v1/projects/p1/registries/hub", None, members(200)),
    (
        "GET",
        R + "/repositories",
        lambda w: "/v1/projects/p1/registries/hub/repositories",
        None,
        members(200),
    ),
    (
        "GET",
        R + "/repositories/{repository}/tags",
        lambda w: "/v1/projects/p1/registries/hub/repositories/team/app/tags",
        None,
        members(200),
    ),
    (
        "POST",
        P + "/registries",
        lambda w: "/v1/projects/p1/registries",
        {"name": "new", "url": "https://new.example.test"},
        owner_only(202),
    ),
    (
        "PATCH",
        R,
        lambda w: "/v1/projects/p1/registries/hub",
        {"description": "changed"},
        owner_only(202),
    ),
    (
        "POST",
        R + "/crawl",
        lambda w: "/v1/projects/p1/registries/hub/crawl",
        None,
        members(202),
    ),
    (
        "DELETE",
        R,
        lambda w: "/v1/projects/p1/registries/hub?force=true",
        None,
        owner_only(202),
    ),
    (
        "GET",
        "/v1/commands/{command_id}",
        lambda w: f"/v1/commands/{w.command_id}",
        None,
        members(200),
    ),
    ("GET", P + "/jobs", lambda w: "/v1/projects/p1/jobs", None, members(200)),
    (
        "POST",
        P + "/jobs",
        lambda w: "/v1/projects/p1/jobs",
        {"name": "b2", "webhook": "https://ci.example.test/b2"},
        owner_only(201),
    ),
    (
        "PUT",
        J + "/registries/{name}",
        lambda w: "/v1/projects/p1/jobs/build/registries/hub",
        None,
        owner_only(200),
    ),
    (
        "DELETE",
        J + "/registries/{name}",
        lambda w: "/v1/projects/p1/jobs/build/registries/hub",
        None,
        owner_only(204),
    ),
    (
        "GET",
        J + "/deliveries",
        lambda w: "/v1/projects/p1/jobs/build/deliveries",
        None,
        members(200),
    ),
    (
        "POST",
        J + "/deliveries/{delivery_id}/retry",
        lambda w: f"/v1/projects/p1/jobs/build/deliveries/{w.delivery_id}/retry",
        None,
        owner_only(202),
    ),
    ("GET", P + "/dead-letters", lambda w: "/v1/projects/p1/dead-letters", None, owner_only(200)),
    (
        "POST",
        P + "/dead-letters/replay",
        lambda w: "/v1/projects/p1/dead-letters/replay",
        {"ids": ["no-such-letter"]},
        owner_only(200),
    ),
    ("GET", "/v1/ops/queues", lambda w: "/v1/ops/queues", None, OPERATORS),
    ("GET", "/v1/ops/dead-letters", lambda w: "/v1/ops/dead-letters", None, OPERATORS),
    (
        "POST",
        "/v1/ops/dead-letters/replay",
        lambda w: "/v1/ops/dead-letters/replay",
        {"ids": ["no-such-letter"]},
        OPERATORS,
    ),
    (
        "POST",
        "/v1/ops/dead-letters/purge",
        lambda w: "/v1/ops/dead-letters/purge",
        {"confirm": True, "queue": "commands"},
        OPERATORS,
    ),
    ("GET", "/v1/asyncapi.json", lambda w: "/v1/asyncapi.json", None, ANYONE),
    ("GET", "/v1/projects", lambda w: "/v1/projects", None, {**ANYONE, "anonymous": 401}),
    ("POST", J + "/secret", lambda w: "/v1/projects/p1/jobs/build/secret", None, owner_only(200)),
    # these two end things the cases above use: they come last
    ("DELETE", J, lambda w: "/v1/projects/p1/jobs/b2", None, owner_only(204)),
    (
        "DELETE",
        P + "/members/{member}",
        lambda w: "/v1/projects/p1/members/bob",
        None,
        owner_only(204),
    ),
]


def test_the_matrix_covers_every_route(api: TestClient) -> None:
    """Every route the API serves: the documented ones, and the documentation itself."""
    app: Any = api.app
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    pages = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert documented | pages == {(method, template) for method, template, *_ in MATRIX}


def test_every_route_answers_each_role_exactly_as_its_role_allows(
    api: TestClient, world: World
) -> None:
    wrong = []
    for method, _template, path, body, expected in MATRIX:
        for role in ROLES:
            response = api.request(method, path(world), json=body, headers=world.tokens[role])
            if response.status_code != expected[role]:
                wrong.append((method, path(world), role, response.status_code, response.text[:200]))
    assert wrong == []


def listing(api: TestClient, path: str, headers: dict[str, str]) -> list[str]:
    response = api.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(letter["id"] for letter in response.json()["dead_letters"])


def test_dead_letters_stay_in_their_project_and_only_operators_see_all(
    api: TestClient, world: World
) -> None:
    owner1, owner2 = world.tokens["owner_p1"], world.tokens["owner_p2"]
    operator = world.tokens["operator"]
    p1, p2 = sorted(world.letters["p1"]), sorted(world.letters["p2"])
    assert listing(api, "/v1/projects/p1/dead-letters", owner1) == p1  # delivery's included
    own = api.get("/v1/projects/p2/dead-letters", headers=owner2)
    assert sorted(d["id"] for d in own.json()["dead_letters"]) == p2
    assert not any(letter in own.text for letter in p1) and "hub.example" not in own.text
    assert listing(api, "/v1/ops/dead-letters", operator) == sorted(p1 + p2)

    # the owner of p2 can neither name p1's letters into a replay nor purge them
    named = api.post("/v1/projects/p2/dead-letters/replay", json={"ids": p1}, headers=owner2)
    assert named.json() == {"replayed": 0}
    purge = api.post("/v1/ops/dead-letters/purge", json={"confirm": True}, headers=owner2)
    assert purge.status_code == 403
    everything = api.post("/v1/projects/p2/dead-letters/replay", json={"all": True}, headers=owner2)
    assert everything.json() == {"replayed": 1}
    assert listing(api, "/v1/ops/dead-letters", operator) == p1

    # a member of p1 cannot act on p1's letters either; its owner can
    member = world.tokens["member_p1"]
    refused = api.post("/v1/projects/p1/dead-letters/replay", json={"all": True}, headers=member)
    assert refused.status_code == 403
    replayed = api.post("/v1/projects/p1/dead-letters/replay", json={"ids": p1}, headers=owner1)
    assert replayed.json() == {"replayed": 2}
    assert listing(api, "/v1/ops/dead-letters", operator) == []


def test_owners_of_other_projects_learn_nothing_of_p1(api: TestClient, world: World) -> None:
    owner2 = world.tokens["owner_p2"]
    for path in (
        "/v1/projects/p1/registries/hub",
        "/v1/projects/p1/jobs/build/deliveries",
        f"/v1/commands/{world.command_id}",
        "/v1/projects/p1/dead-letters",
        "/v1/projects/nope/dead-letters",
    ):
        response = api.get(path, headers=owner2)
        assert response.status_code == 404, path
        assert "hub.example" not in response.text and world.delivery_id not in response.text


def test_metrics_can_be_made_public_by_setting(container: Container, settings: Settings) -> None:
    public = replace(container, settings=settings.model_copy(update={"metrics_public": True}))
    with TestClient(create_app(public)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200 and "reglink_registries" in response.text
