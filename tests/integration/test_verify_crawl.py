"""Verification and crawling against the real distribution registry, in every auth mode,
through the real flow: API -> Redis -> workers -> registry -> store -> browsing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.bootstrap import Container
from gateway.runners import running_workers
from store.tables import OutboxMessage
from tests.conftest import REFRESH, USERS, auth
from tests.e2e.processes import free_port
from tests.integration.browse import (
    link,
    registries_listed,
    registry,
    repositories,
    settled,
    tags,
)
from tests.polling import wait_until
from tests.support.images import MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, push_image, push_many
from tests.support.registry import RunningRegistry
from tests.support.token_server import TokenServer

PLATFORMS = [("linux", "amd64", None), ("linux", "arm64", "v8")]


def push_sample(registry: RunningRegistry, creds: tuple[str, str] | None) -> dict[str, str]:
    """Two repositories: a single-platform image with two tags and a multi-arch index."""
    return {
        "team/app:1.0": push_image(registry.url, "team/app", "1.0", auth=creds),
        "team/app:latest": push_image(registry.url, "team/app", "latest", auth=creds),
        "base:multi": push_image(registry.url, "base", "multi", auth=creds, platforms=PLATFORMS),
    }


def assert_browsable(api: TestClient, token: str, name: str, pushed: dict[str, str]) -> None:
    assert repositories(api, token, name) == ["base", "team/app"]
    app = tags(api, token, name, "team/app")
    assert sorted(app) == ["1.0", "latest"]
    assert app["1.0"]["digest"] == pushed["team/app:1.0"]
    assert app["1.0"]["media_type"] == MEDIA_DOCKER_MANIFEST
    base = tags(api, token, name, "base")
    assert base["multi"]["digest"] == pushed["base:multi"]
    assert base["multi"]["media_type"] == MEDIA_OCI_INDEX
    assert base["multi"]["platforms"] == ["linux/amd64", "linux/arm64/v8"]


def test_anonymous_registry_is_verified_and_browsable(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    pushed = push_sample(anon_registry, None)
    token = project["owner_token"]
    link(api, token, name="anon", url=anon_registry.url)
    doc = settled(api, token, "anon")
    assert (doc["status"], doc["catalog"], doc["repository_count"], doc["tag_count"]) == (
        "verified",
        "supported",
        2,
        3,
    )
    assert registries_listed(api, token) == ["anon"]
    assert_browsable(api, project["member_token"], "anon", pushed)  # members may browse


def test_basic_auth_registry_is_verified_and_browsable(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
) -> None:
    pushed = push_sample(basic_registry, ("alice", USERS["alice"]))
    token = project["owner_token"]
    link(
        api,
        token,
        name="basic",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password=USERS["alice"],
    )
    assert settled(api, token, "basic")["status"] == "verified"
    assert_browsable(api, token, "basic", pushed)


def test_token_auth_registry_with_basic_credentials_is_verified(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    token_registry: RunningRegistry,
    token_server: TokenServer,
) -> None:
    pushed = push_sample(token_registry, ("alice", USERS["alice"]))
    token = project["owner_token"]
    link(
        api,
        token,
        name="tok",
        url=token_registry.url,
        auth="basic",
        username="alice",
        password=USERS["alice"],
    )
    assert settled(api, token, "tok")["status"] == "verified"
    assert_browsable(api, token, "tok", pushed)


def test_oauth2_refresh_token_flow_is_verified_and_browsable(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    token_registry: RunningRegistry,
    token_server: TokenServer,
) -> None:
    pushed = push_sample(token_registry, ("alice", USERS["alice"]))
    token_server.clear_requests()
    token = project["owner_token"]
    link(api, token, name="oauth", url=token_registry.url, auth="oauth2", token=REFRESH)
    assert settled(api, token, "oauth")["status"] == "verified"
    assert_browsable(api, token, "oauth", pushed)
    grants = token_server.grant_types()
    assert grants and set(grants) == {"refresh_token"}, grants


def test_wrong_password_fails_unauthorized_and_is_not_listed(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    link(
        api,
        token,
        name="bad",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password="wrong",
    )
    doc = settled(api, token, "bad")
    assert (doc["status"], doc["reason"]) == ("failed", "unauthorized")
    assert doc["message"] and "wrong" not in doc["message"]
    assert registries_listed(api, token) == []
    assert registries_listed(api, token, all=True) == ["bad"]


def test_wrong_port_fails_unreachable(
    all_workers: Container, api: TestClient, project: dict[str, Any]
) -> None:
    token = project["owner_token"]
    link(api, token, name="closed", url=f"http://127.0.0.1:{free_port()}")
    doc = settled(api, token, "closed")
    assert (doc["status"], doc["reason"]) == ("failed", "unreachable")


def test_catalog_pagination_follows_the_registry_link_headers(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    pushed = push_many(anon_registry.url, 7, 2)
    token = project["owner_token"]
    link(api, token, name="many", url=anon_registry.url)
    doc = settled(api, token, "many")
    assert (doc["repository_count"], doc["tag_count"]) == (7, 14)
    assert repositories(api, token, "many") == sorted(pushed)
    for repo, repo_tags in pushed.items():
        assert {t: row["digest"] for t, row in tags(api, token, "many", repo).items()} == repo_tags


def test_token_user_denied_the_catalog_is_verified_and_browses_named_repositories(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    token_registry: RunningRegistry,
    token_server: TokenServer,
) -> None:
    pushed = push_sample(token_registry, ("alice", USERS["alice"]))
    token = project["owner_token"]
    link(
        api,
        token,
        name="nocat",
        url=token_registry.url,
        auth="basic",
        username="bob",
        password=USERS["bob"],
        repositories=["team/app", "missing/repo"],
    )
    doc = settled(api, token, "nocat")
    assert (doc["status"], doc["catalog"]) == ("verified", "unsupported")
    assert registries_listed(api, token) == ["nocat"]
    assert repositories(api, token, "nocat") == ["missing/repo", "team/app"]
    assert {t: row["digest"] for t, row in tags(api, token, "nocat", "team/app").items()} == {
        "1.0": pushed["team/app:1.0"],
        "latest": pushed["team/app:latest"],
    }
    assert tags(api, token, "nocat", "missing/repo") == {}


def test_crawl_on_demand_reports_added_and_removed_tags(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    push_image(anon_registry.url, "app", "1")
    token = project["owner_token"]
    link(api, token, name="r", url=anon_registry.url)
    first = settled(api, token, "r")
    push_image(anon_registry.url, "app", "2")
    push_image(anon_registry.url, "other", "x")
    response = api.post(
        "/v1/projects/demo/registries/r/crawl", headers=auth(project["member_token"])
    )
    assert response.status_code == 202

    doc = wait_until(
        lambda: (
            (d := registry(api, token, "r"))["crawl_finished_at"] != first["crawl_finished_at"]
            and d
        ),
        what="second crawl",
    )
    assert (doc["repository_count"], doc["tag_count"]) == (2, 3)
    assert sorted(tags(api, token, "r", "app")) == ["1", "2"]
    with all_workers.uow() as uow:
        crawled = [
            row.envelope["data"]
            for row in uow.session.exec(select(OutboxMessage))
            if row.type == "reglink.registry.catalog_crawled"
        ]
    assert crawled[-1]["added"] == ["app:2", "other:x"] and crawled[-1]["removed"] == []
    assert crawled[-1]["added_count"] == 2


@pytest.mark.parametrize(
    ("allowed", "url_host", "reason"),
    [
        ((), "127.0.0.1", "blocked_address"),
        (("127.0.0.1/32",), "169.254.169.254", "blocked_address"),
    ],
)
def test_guard_blocks_loopback_unless_allowed_and_metadata_always(
    api: TestClient,
    project: dict[str, Any],
    container: Container,
    anon_registry: RunningRegistry,
    allowed: tuple[str, ...],
    url_host: str,
    reason: str,
) -> None:
    guarded = container.settings.model_copy(update={"allowed_networks": allowed})
    object.__setattr__(container, "settings", guarded)
    with running_workers(container, threads=2):
        token = project["owner_token"]
        port = anon_registry.port if url_host == "127.0.0.1" else 80
        link(api, token, name="guarded", url=f"https://{url_host}:{port}")
        doc = settled(api, token, "guarded")
    assert (doc["status"], doc["reason"]) == ("failed", reason)
    assert anon_registry.log_tail().count("GET /v2/") == 0, "no request reached the registry"
