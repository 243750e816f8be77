"""Update rules: optimistic concurrency, renames, write-only secrets that never follow a
host change, and a registry that never passed verification."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from events.broker import publish_command
from events.envelope import Envelope
from events.messages import UpdateRegistry
from gateway.bootstrap import Container
from store.tables import CommandRecord
from tests.conftest import USERS, auth
from tests.integration.browse import link, registries_listed, registry, settled
from tests.polling import wait_until
from tests.support.registry import RunningRegistry


def patch(api: TestClient, token: str, name: str, **body: Any) -> Any:
    return api.patch(f"/v1/projects/demo/registries/{name}", json=body, headers=auth(token))


def version_moves(api: TestClient, token: str, name: str, to: int) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (d := registry(api, token, name))["version"] == to and d["status"] != "pending" and d
        ),
        what=f"{name} at version {to}",
    )


def test_a_stale_expected_version_is_refused_and_a_current_one_applies(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    token = project["owner_token"]
    link(api, token, name="r", url=anon_registry.url)
    settled(api, token, "r")
    stale = patch(api, token, "r", description="new", expected_version=7)
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "conflict")
    assert "version 1" in stale.json()["error"]["message"]
    assert patch(api, token, "r", description="new", expected_version=1).status_code == 202
    doc = version_moves(api, token, "r", 2)
    assert (doc["description"], doc["status"]) == ("new", "verified")


def test_rename_keeps_names_unique_and_moves_the_registry(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    token = project["owner_token"]
    link(api, token, name="a", url=anon_registry.url)
    link(api, token, name="b", url=anon_registry.url)
    settled(api, token, "a")
    settled(api, token, "b")
    taken = patch(api, token, "a", new_name="B")
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert patch(api, token, "a", new_name="c").status_code == 202
    wait_until(lambda: sorted(registries_listed(api, token)) == ["b", "c"], what="renamed")
    assert registry(api, token, "c")["version"] == 2


def test_a_new_host_needs_the_credentials_again(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    anon_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    link(
        api,
        token,
        name="r",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password=USERS["alice"],
    )
    settled(api, token, "r")
    elsewhere = basic_registry.url.replace("http://127.0.0.1", "https://localhost")
    refused = patch(api, token, "r", url=elsewhere)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_input")
    assert "entered again" in refused.json()["error"]["message"]
    # the same refusal from the command actor, for services that publish directly
    command = UpdateRegistry(project="demo", name="r", url=elsewhere)
    publish_command(
        all_workers.broker, Envelope.wrap(command, command_id="direct-host-0001", actor="alice")
    )
    all_workers.broker.join("commands", timeout=15_000)
    with all_workers.uow() as uow:
        record = uow.session.exec(
            select(CommandRecord).where(CommandRecord.id == "direct-host-0001")
        ).one()
    assert (record.status, record.error_code) == ("failed", "invalid_input")
    # an update that leaves the secret out keeps the stored one
    assert patch(api, token, "r", description="same host").status_code == 202
    assert version_moves(api, token, "r", 2)["status"] == "verified"


def test_a_registry_that_never_verified_is_fixed_by_an_update(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    link(
        api,
        token,
        name="r",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password="typo",
    )
    assert settled(api, token, "r")["status"] == "failed"
    assert patch(api, token, "r", password=USERS["alice"]).status_code == 202
    doc = version_moves(api, token, "r", 2)
    assert (doc["status"], doc["reason"]) == ("verified", None)
