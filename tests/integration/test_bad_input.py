"""Every bad input gets a clear error and changes nothing: at the gateway (synchronously)
and again in the command actor, for services that publish to the broker directly."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from events.broker import publish_command
from events.envelope import Envelope
from events.messages import LinkRegistry
from events.sealing import seal
from gateway.admin import create_project
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.tables import AuditEntry, CommandRecord, Credential, OutboxMessage, Registry
from tests.conftest import auth

LONG = "x" * 65
GOOD = {"name": "hub", "url": "https://registry.example.test"}


def snapshot(container: Container) -> dict[str, int]:
    """What a rejected command must leave untouched."""
    with container.uow() as uow:

        def count(table: Any, *where: Any) -> int:
            return int(
                uow.session.exec(select(func.count()).select_from(table).where(*where)).one()
            )

        return {
            "registries": count(Registry),
            "credentials": count(Credential),
            "outbox": count(OutboxMessage),
            "audit": count(AuditEntry, col(AuditEntry.action) != "command.rejected"),
        }


API_CASES = [
    ("empty name", {**GOOD, "name": ""}, 422, "invalid_input"),
    ("over-long name", {**GOOD, "name": LONG}, 422, "invalid_input"),
    ("name with a space", {**GOOD, "name": "my hub"}, 422, "invalid_input"),
    ("name with a slash", {**GOOD, "name": "a/b"}, 422, "invalid_input"),
    ("ftp url", {**GOOD, "url": "ftp://registry.example.test"}, 422, "invalid_input"),
    ("bare host with credentials", {**GOOD, "url": "u:p@r.example.test"}, 422, "invalid_input"),
    ("plain http", {**GOOD, "url": "http://registry.example.test"}, 422, "insecure_not_allowed"),
    ("userinfo", {**GOOD, "url": "https://u:p@registry.example.test"}, 422, "invalid_input"),
    ("query", {**GOOD, "url": "https://registry.example.test/?a=1"}, 422, "invalid_input"),
    ("fragment", {**GOOD, "url": "https://registry.example.test/#x"}, 422, "invalid_input"),
    ("basic without username", {**GOOD, "auth": "basic", "password": "pw"}, 422, "invalid_input"),
    ("basic without password", {**GOOD, "auth": "basic", "username": "u"}, 422, "invalid_input"),
    ("oauth2 without token", {**GOOD, "auth": "oauth2"}, 422, "invalid_input"),
    ("anonymous with username", {**GOOD, "username": "u"}, 422, "invalid_input"),
    ("anonymous with password", {**GOOD, "password": "pw"}, 422, "invalid_input"),
    (
        "basic with a token",
        {**GOOD, "auth": "basic", "username": "u", "token": "t"},
        422,
        "invalid_input",
    ),
    ("unknown auth", {**GOOD, "auth": "kerberos"}, 422, "invalid_input"),
    ("unknown field", {**GOOD, "colour": "blue"}, 422, "invalid_input"),
    ("bad repository", {**GOOD, "repositories": ["Upper/Case"]}, 422, "invalid_input"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), API_CASES, ids=[c[0] for c in API_CASES]
)
def test_gateway_rejects_bad_link_at_once_and_changes_nothing(
    container: Container,
    api: TestClient,
    project: dict[str, Any],
    case: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = snapshot(container)
    response = api.post(
        "/v1/projects/demo/registries", json=body, headers=auth(project["owner_token"])
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "pw" not in response.text.replace("password", "")  # never echoes a secret back
    assert snapshot(container) == before


def test_gateway_refuses_unknown_project_non_owner_outsider_and_duplicates(
    workers: Container, api: TestClient, project: dict[str, Any], settings: Settings
) -> None:
    outsider = create_project(settings, "other", "carol")["token"]
    owner = auth(project["owner_token"])
    assert api.post("/v1/projects/demo/registries", json=GOOD, headers=owner).status_code == 202
    workers.broker.join("commands", timeout=15_000)
    before = snapshot(workers)

    cases = [
        ("/v1/projects/nope/registries", owner, GOOD, 404, "not_found"),
        (
            "/v1/projects/demo/registries",
            auth(project["member_token"]),
            {**GOOD, "name": "x"},
            403,
            "forbidden",
        ),
        ("/v1/projects/demo/registries", auth(outsider), {**GOOD, "name": "x"}, 404, "not_found"),
        ("/v1/projects/demo/registries", owner, {**GOOD, "name": "HUB"}, 409, "conflict"),
        (
            "/v1/projects/demo/registries",
            {"Authorization": "Bearer rlk_wrong"},
            GOOD,
            401,
            "unauthenticated",
        ),
        ("/v1/projects/demo/registries", {}, GOOD, 401, "unauthenticated"),
    ]
    for path, headers, body, status, code in cases:
        response = api.post(path, json=body, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path
    assert snapshot(workers) == before
    # a member may view, an outsider may not even see the project
    assert (
        api.get(
            "/v1/projects/demo/registries?all=true", headers=auth(project["member_token"])
        ).status_code
        == 200
    )
    assert api.get("/v1/projects/demo/registries", headers=auth(outsider)).status_code == 404


def _sealed(workers: Container, project: str = "demo") -> str:
    return seal("s3cret-pw", workers.keys.public, project=project)


def _tampered(workers: Container) -> str:
    sealed = _sealed(workers)
    last = sealed[-5]
    return sealed[:-5] + ("A" if last != "A" else "B") + sealed[-4:]


DIRECT_CASES: list[tuple[str, Any, str]] = [
    (
        "not an owner",
        lambda w: (LinkRegistry(project="demo", name="x", url="https://r.test"), "bob"),
        "forbidden",
    ),
    (
        "unknown project",
        lambda w: (LinkRegistry(project="nope", name="x", url="https://r.test"), "alice"),
        "not_found",
    ),
    (
        "plain http",
        lambda w: (LinkRegistry(project="demo", name="x", url="http://r.test"), "alice"),
        "insecure_not_allowed",
    ),
    (
        "bad name",
        lambda w: (LinkRegistry(project="demo", name="a b", url="https://r.test"), "alice"),
        "invalid_input",
    ),
    (
        "malformed sealed secret",
        lambda w: (
            LinkRegistry(
                project="demo",
                name="x",
                url="https://r.test",
                auth="basic",
                username="u",
                sealed_secret="garbage",
            ),
            "alice",
        ),
        "invalid_sealed_secret",
    ),
    (
        "tampered sealed secret",
        lambda w: (
            LinkRegistry(
                project="demo",
                name="x",
                url="https://r.test",
                auth="basic",
                username="u",
                sealed_secret=_tampered(w),
            ),
            "alice",
        ),
        "invalid_sealed_secret",
    ),
    (
        "secret sealed for another project",
        lambda w: (
            LinkRegistry(
                project="demo",
                name="x",
                url="https://r.test",
                auth="basic",
                username="u",
                sealed_secret=_sealed(w, project="other"),
            ),
            "alice",
        ),
        "invalid_sealed_secret",
    ),
]


@pytest.mark.parametrize(("case", "make", "code"), DIRECT_CASES, ids=[c[0] for c in DIRECT_CASES])
def test_command_actor_rejects_bad_commands_published_directly(
    workers: Container, project: dict[str, Any], case: str, make: Any, code: str
) -> None:
    before = snapshot(workers)
    command, actor = make(workers)
    publish_command(
        workers.broker, Envelope.wrap(command, command_id=f"direct-{code}", actor=actor)
    )
    workers.broker.join("commands", timeout=15_000)
    with workers.uow() as uow:
        record = uow.session.get(CommandRecord, f"direct-{code}")
    assert record is not None
    assert (record.status, record.error_code) == ("failed", code)
    assert record.error_message and "s3cret" not in record.error_message
    assert snapshot(workers) == before


def test_unknown_command_type_and_malformed_envelope_change_nothing(
    workers: Container, project: dict[str, Any]
) -> None:
    before = snapshot(workers)
    unknown = Envelope(
        type="reglink.command.launch_rockets",
        id="cmd-unknown-1",
        commandid="cmd-unknown-1",
        correlationid="cmd-unknown-1",
        data={},
    )
    publish_command(workers.broker, unknown)
    broken = unknown.model_dump(mode="json") | {
        "id": "junk-00001",
        "specversion": "0.1",
        "data": "not an object",
    }
    workers.broker.enqueue(
        dramatiq.Message(
            queue_name="commands",
            actor_name="handle_command",
            args=(broken,),
            kwargs={},
            options={},
        )
    )
    workers.broker.join("commands", timeout=15_000)
    with workers.uow() as uow:
        record = uow.session.get(CommandRecord, "cmd-unknown-1")
        junk = uow.session.get(CommandRecord, "junk-00001")
    assert record is not None and (record.status, record.error_code) == (
        "failed",
        "unknown_command",
    )
    # a broken envelope is a dead letter, and the command it names fails with the reason
    assert junk is not None and (junk.status, junk.error_code) == ("failed", "invalid_envelope")
    assert snapshot(workers) == before
