"""Limits at the edge: an over-large body, an over-long header, a reserved name, a URL the
HTTP client would read differently. Each is refused at once with a 4xx that says why, and
the store is left exactly as it was (no command record, no job, no audit entry)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from events.errors import InvalidInput
from gateway.admin import create_project
from gateway.api import create_app
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.tables import AuditEntry, BuildJob, CommandRecord, OutboxMessage, Registry
from tests.conftest import auth

GOOD = {"name": "hub", "url": "https://registry.example.test"}
LINK = "/v1/projects/demo/registries"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The limits are the gateway's, not the database's: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'reglink.db'}"


def snapshot(container: Container) -> dict[str, int]:
    with container.uow() as uow:
        return {
            table.__name__: int(uow.session.exec(select(func.count()).select_from(table)).one())
            for table in (CommandRecord, Registry, BuildJob, OutboxMessage, AuditEntry)
        }


@pytest.fixture
def owner(project: dict[str, Any]) -> dict[str, str]:
    return auth(project["owner_token"])


def refused(
    container: Container, response: Any, status: int, code: str, before: dict[str, int]
) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert snapshot(container) == before
    return str(error["message"])


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    container: Container, api: TestClient, owner: dict[str, str]
) -> None:
    limit = container.settings.max_body_bytes
    before = snapshot(container)
    huge = {**GOOD, "description": "x" * (limit + 1)}
    message = refused(container, api.post(LINK, json=huge, headers=owner), 413, "too_large", before)
    assert str(limit) in message

    def streamed() -> Iterator[bytes]:  # chunked: no Content-Length to judge by
        yield b'{"name": "hub", "url": "https://registry.example.test", "description": "'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}'

    response = api.post(
        LINK, content=streamed(), headers={**owner, "Content-Type": "application/json"}
    )
    refused(container, response, 413, "too_large", before)
    assert api.post(LINK, json=GOOD, headers=owner).status_code == 202  # below the limit


def test_a_small_body_limit_setting_is_honoured(
    container: Container, settings: Settings, project: dict[str, Any]
) -> None:
    small = replace(container, settings=settings.model_copy(update={"max_body_bytes": 1024}))
    with TestClient(create_app(small)) as client:
        before = snapshot(container)
        body = {**GOOD, "description": "y" * 1100}
        response = client.post(LINK, json=body, headers=auth(project["owner_token"]))
        refused(container, response, 413, "too_large", before)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Correlation-Id", "c" * 101),
        ("X-Correlation-Id", "has space"),
        ("X-Correlation-Id", "c" * 100_000),
        ("Idempotency-Key", "k" * 101),
        ("Idempotency-Key", "short"),
        ("Idempotency-Key", "has/slash-key"),
    ],
    ids=["correlation-101", "correlation-space", "correlation-100k", "key-101", "key-7", "key-/"],
)
def test_over_long_or_odd_headers_are_refused_and_record_nothing(
    container: Container, api: TestClient, owner: dict[str, str], header: str, value: str
) -> None:
    before = snapshot(container)
    response = api.post(LINK, json=GOOD, headers={**owner, header: value})
    assert header.lower() in refused(container, response, 422, "invalid_input", before).lower()


def test_headers_at_their_limits_are_accepted(
    container: Container, api: TestClient, owner: dict[str, str]
) -> None:
    headers = {**owner, "X-Correlation-Id": "c" * 100, "Idempotency-Key": "k" * 100}
    response = api.post(LINK, json=GOOD, headers=headers)
    assert response.status_code == 202, response.text
    with container.uow() as uow:
        record = uow.session.get(CommandRecord, response.json()["command_id"])
        assert record is not None and record.correlation_id == "c" * 100


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_reserved(
    container: Container, api: TestClient, owner: dict[str, str], name: str
) -> None:
    before = snapshot(container)
    message = refused(
        container,
        api.post(LINK, json={**GOOD, "name": name}, headers=owner),
        422,
        "invalid_input",
        before,
    )
    assert "name" in message
    job = api.post(
        "/v1/projects/demo/jobs", json={"name": name, "webhook": "https://ci.test/h"}, headers=owner
    )
    refused(container, job, 422, "invalid_input", before)
    with pytest.raises(InvalidInput, match="not only dots"):
        create_project(container.settings, name, "alice")


URL_CASES = [
    ("https://0177.0.0.1", "0177.0.0.1"),  # octal: 127.0.0.1 to the C library
    ("https://2130706433", "127.0.0.1"),  # one decimal number
    ("https://0x7f.0.0.1", "127.0.0.1"),  # hex
    ("https://127.1", "127.0.0.1"),  # fewer parts
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11", "IDNA"),  # full-width digits
    ("https://registry.example.test:99999", "65535"),
    ("https://[fe80::1%25eth0]", "IPv6"),
    ("https://registry.example.test/%2e%2e/v2", "'..'"),
    ("https://exa mple.test", "host name"),
]


@pytest.mark.parametrize(("url", "reason"), URL_CASES, ids=[u for u, _ in URL_CASES])
def test_urls_the_client_would_read_differently_are_refused_with_the_reason(
    container: Container, api: TestClient, owner: dict[str, str], url: str, reason: str
) -> None:
    before = snapshot(container)
    link = api.post(LINK, json={**GOOD, "url": url}, headers=owner)
    assert reason in refused(container, link, 422, "invalid_input", before)
    job = api.post("/v1/projects/demo/jobs", json={"name": "b1", "webhook": url}, headers=owner)
    assert reason in refused(container, job, 422, "invalid_input", before)


def test_webhook_urls_are_stored_canonical(api: TestClient, owner: dict[str, str]) -> None:
    body = {"name": "b1", "webhook": "https://CI.B\u00fccher.example./hooks/"}
    added = api.post("/v1/projects/demo/jobs", json=body, headers=owner)
    assert added.status_code == 201, added.text
    assert added.json()["webhook"] == "https://ci.xn--bcher-kva.example/hooks"


def test_another_callers_idempotency_key_is_answered_as_if_new(
    container: Container,
    api: TestClient,
    project: dict[str, Any],
    owner: dict[str, str],
    settings: Settings,
) -> None:
    """Keys are scoped per caller: reusing one reveals nothing about who used it before."""
    key = {"Idempotency-Key": "shared-key-0001"}
    first = api.post(LINK, json=GOOD, headers={**owner, **key})
    again = api.post(LINK, json=GOOD, headers={**owner, **key})
    assert first.status_code == again.status_code == 202
    assert first.json()["command_id"] == again.json()["command_id"]

    member = auth(project["member_token"])
    as_member = api.post(LINK, json={**GOOD, "name": "x"}, headers={**member, **key})
    without_key = api.post(LINK, json={**GOOD, "name": "x"}, headers=member)
    assert as_member.status_code == without_key.status_code == 403
    assert as_member.json() == without_key.json()

    carol = auth(create_project(settings, "other", "carol")["token"])
    theirs = api.post(
        "/v1/projects/other/registries", json=GOOD, headers={**carol, **key}
    )  # the same key, another caller: a command of their own
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["command_id"] != first.json()["command_id"]
    seen = api.get(f"/v1/commands/{first.json()['command_id']}", headers=carol)
    assert seen.status_code == 404
