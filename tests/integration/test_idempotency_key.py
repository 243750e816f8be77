"""An Idempotency-Key names one command: sending it again is that command, and it cannot
carry a different one past the checks. The ids a caller chooses are checked first."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.admin import create_project
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.tables import CommandRecord
from tests.conftest import auth

KEY = "retry-key-0001"
GOOD = {"name": "hub", "url": "https://registry.example.test"}


def test_the_same_request_with_the_same_key_is_the_same_command(
    api: TestClient, project: dict[str, Any]
) -> None:
    headers = {**auth(project["owner_token"]), "Idempotency-Key": KEY}
    first = api.post("/v1/projects/demo/registries", json=GOOD, headers=headers)
    again = api.post("/v1/projects/demo/registries", json=GOOD, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert first.json()["command_id"] == again.json()["command_id"]  # the caller's key names it


def test_a_key_cannot_carry_another_command_past_the_checks(
    api: TestClient, project: dict[str, Any], settings: Settings
) -> None:
    create_project(settings, "other", "carol")
    headers = {**auth(project["owner_token"]), "Idempotency-Key": KEY}
    assert api.post("/v1/projects/demo/registries", json=GOOD, headers=headers).status_code == 202
    elsewhere = api.post("/v1/projects/other/registries", json=GOOD, headers=headers)
    assert elsewhere.status_code == 409, elsewhere.text
    assert elsewhere.json()["error"]["code"] == "conflict"
    crawl = api.post("/v1/projects/demo/registries/hub/crawl", headers=headers)
    assert crawl.status_code == 409, crawl.text


def test_an_over_long_correlation_id_is_refused_before_anything_is_recorded(
    container: Container, api: TestClient, project: dict[str, Any]
) -> None:
    headers = {**auth(project["owner_token"]), "X-Correlation-Id": "c" * 101}
    response = api.post("/v1/projects/demo/registries", json=GOOD, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    with container.uow() as uow:
        assert uow.session.exec(select(CommandRecord)).first() is None
