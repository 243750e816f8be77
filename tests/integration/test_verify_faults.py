"""Verification and crawling against a registry that misbehaves on cue.

Each test links a registry through the real flow (HTTP API -> Redis -> dramatiq workers ->
store) pointed at `FaultyRegistry` on loopback, then watches the outcome through the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.settings import Settings
from tests.conftest import NamespacedRedis, auth, settings_for
from tests.polling import wait_until
from tests.support.faulty import (
    FaultyRegistry,
    Rule,
    catalog_link_back,
    challenge,
    digest_of,
    html_page,
    malformed_json,
    oversized,
    rate_limited,
    server_error,
    slow,
    status,
)

DEADLINE = 1.0  # seconds per outbound request, so that slow answers fail fast
ATTEMPTS = 3  # verify_attempts
PAGE = 2  # catalog_page_size: five repositories make three pages
REPOSITORIES = {
    "library/alpine": ["3.19", "3.20"],
    "library/busybox": ["latest"],
    "team/api": ["1.0"],
    "team/app": ["1.0", "1.1"],
    "team/web": ["main"],
}
OVERSIZED = 40 * 1024 * 1024  # above the 32 MiB response cap


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    """conftest's settings with short deadlines, few attempts and small catalog pages."""
    return settings_for(
        tmp_path,
        database_url,
        redis_client,
        verify_attempts=ATTEMPTS,
        request_deadline=DEADLINE,
        catalog_page_size=PAGE,
    )


@pytest.fixture
def server() -> Iterator[FaultyRegistry]:
    with FaultyRegistry(REPOSITORIES) as running:
        yield running


def link(api: TestClient, project: dict[str, Any], name: str, url: str) -> None:
    response = api.post(
        "/v1/projects/demo/registries",
        json={"name": name, "url": url, "auth": "anonymous"},
        headers=auth(project["owner_token"]),
    )
    assert response.status_code == 202, response.text


def show(api: TestClient, project: dict[str, Any], name: str) -> dict[str, Any] | None:
    response = api.get(f"/v1/projects/demo/registries/{name}", headers=auth(project["owner_token"]))
    return response.json() if response.status_code == 200 else None


def settled(api: TestClient, project: dict[str, Any], name: str) -> dict[str, Any]:
    """The registry once verification has an outcome."""

    def probe() -> dict[str, Any]:
        document = show(api, project, name) or {}
        return document if document.get("status", "pending") != "pending" else {}

    return wait_until(probe, timeout=10, what=f"{name} to leave pending")


def link_and_settle(
    api: TestClient, project: dict[str, Any], server: FaultyRegistry, name: str = "faulty"
) -> dict[str, Any]:
    link(api, project, name, server.url)
    return settled(api, project, name)


def crawl_finished(
    api: TestClient, project: dict[str, Any], name: str, after: str | None = None
) -> dict[str, Any]:
    """The registry once a crawl finishes (well or not) later than `after`."""

    def probe() -> dict[str, Any]:
        document = show(api, project, name) or {}
        finished = document.get("crawl_finished_at")
        return document if finished is not None and finished != after else {}

    return wait_until(probe, timeout=10, what=f"a crawl of {name} to finish")


def repositories(api: TestClient, project: dict[str, Any], name: str) -> list[str]:
    response = api.get(
        f"/v1/projects/demo/registries/{name}/repositories", headers=auth(project["owner_token"])
    )
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["repositories"]]


def statuses(server: FaultyRegistry, method: str, path: str) -> list[int | None]:
    return [seen.status for seen in server.seen(method, path)]


# -- transient failures are retried ------------------------------------------------------------


def test_server_errors_then_success_verifies_after_retries(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    server.script = [Rule("GET", "/v2/", server_error(), times=2)]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("verified", None)
    assert registry["catalog"] == "supported"
    pings = server.seen("GET", "/v2/")
    assert [p.status for p in pings] == [500, 500, 200]
    # backoff: 50 ms, then 100 ms
    assert pings[1].at - pings[0].at >= 0.05
    assert pings[2].at - pings[1].at >= 0.1


def test_rate_limited_verification_waits_for_retry_after(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    server.script = [Rule("GET", "/v2/", rate_limited(retry_after="1"), times=1)]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("verified", None)
    pings = server.seen("GET", "/v2/")
    assert [p.status for p in pings] == [429, 200]
    assert pings[1].at - pings[0].at >= 1.0, "Retry-After: 1 was not honoured"


def test_registry_slower_than_the_deadline_fails_with_timeout(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    server.script = [Rule("GET", "/v2/", slow(DEADLINE * 5))]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("failed", "timeout")
    assert len(server.seen("GET", "/v2/")) == ATTEMPTS


def test_registry_always_failing_fails_with_registry_error(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    server.script = [Rule("GET", "/v2/", server_error(503))]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("failed", "registry_error")
    assert statuses(server, "GET", "/v2/") == [503] * ATTEMPTS


# -- permanent failures are not ----------------------------------------------------------------


def test_malformed_catalog_json_fails_with_invalid_response(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    server.script = [Rule("GET", "/v2/_catalog", malformed_json())]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("failed", "invalid_response")
    assert len(server.seen("GET", "/v2/_catalog")) == 1, "a broken answer is not retried"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_catalog_fails_with_response_too_large(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    server: FaultyRegistry,
    chunked: bool,
) -> None:
    server.script = [Rule("GET", "/v2/_catalog", oversized(OVERSIZED, chunked=chunked))]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("failed", "response_too_large")
    assert len(server.seen("GET", "/v2/_catalog")) == 1


@pytest.mark.parametrize(
    "answer",
    [html_page(), status(404, b"404 page not found", content_type="text/plain")],
    ids=["html-200", "404"],
)
def test_url_that_is_not_a_registry_fails_with_not_a_v2_registry(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    server: FaultyRegistry,
    answer: Any,
) -> None:
    server.script = [Rule("GET", "/v2/", answer)]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("failed", "not_a_v2_registry")
    assert len(server.seen("GET", "/v2/")) == 1
    assert server.seen("GET", "/v2/_catalog") == []


def test_basic_challenge_to_anonymous_link_fails_unauthorized_without_retry(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    server.script = [Rule("GET", "/v2/", challenge('Basic realm="x"'))]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("failed", "unauthorized")
    assert statuses(server, "GET", "/v2/") == [401], "no credentials to answer with, no retry"


@pytest.mark.parametrize("refusal", [401, 403, 404])
def test_catalog_refused_still_verifies_with_catalog_unsupported(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    server: FaultyRegistry,
    refusal: int,
) -> None:
    answer = challenge('Basic realm="x"', refusal) if refusal == 401 else server_error(refusal)
    server.script = [Rule("GET", "/v2/_catalog", answer)]

    registry = link_and_settle(api, project, server)

    assert (registry["status"], registry["reason"]) == ("verified", None)
    assert registry["catalog"] == "unsupported"
    assert statuses(server, "GET", "/v2/_catalog")[:1] == [refusal]


# -- crawling --------------------------------------------------------------------------------


def test_crawl_follows_link_pages_through_a_rate_limit(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    # one 429 on the second of three catalog pages; the crawl must carry on from there
    second_page = {"last": "library/busybox", "n": str(PAGE)}
    server.script = [
        Rule("GET", "/v2/_catalog", rate_limited(retry_after="0"), times=1, query=second_page)
    ]

    assert link_and_settle(api, project, server)["status"] == "verified"
    registry = crawl_finished(api, project, "faulty")

    assert registry["crawl_error"] is None and registry["crawled_at"] is not None
    assert statuses(server, "GET", "/v2/_catalog").count(429) == 1
    assert repositories(api, project, "faulty") == sorted(REPOSITORIES)
    assert registry["repository_count"] == len(REPOSITORIES)
    assert registry["tag_count"] == sum(len(tags) for tags in REPOSITORIES.values())
    tags = api.get(
        "/v1/projects/demo/registries/faulty/repositories/team/app/tags",
        headers=auth(project["owner_token"]),
    ).json()["tags"]
    assert [(t["tag"], t["digest"]) for t in tags] == [
        (tag, digest_of("team/app", tag)) for tag in ("1.0", "1.1")
    ]


def test_link_loop_fails_the_crawl_and_keeps_the_previous_snapshot(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    assert link_and_settle(api, project, server)["status"] == "verified"
    first = crawl_finished(api, project, "faulty")
    assert first["crawl_error"] is None
    assert repositories(api, project, "faulty") == sorted(REPOSITORIES)

    server.script = [Rule("GET", "/v2/_catalog", catalog_link_back())]
    response = api.post(
        "/v1/projects/demo/registries/faulty/crawl", headers=auth(project["owner_token"])
    )
    assert response.status_code == 202, response.text
    second = crawl_finished(api, project, "faulty", after=first["crawl_finished_at"])

    assert second["crawl_error"] == "pagination_loop"
    assert second["status"] == "verified"
    assert second["crawled_at"] == first["crawled_at"], "the last good crawl stays in force"
    assert repositories(api, project, "faulty") == sorted(REPOSITORIES)


@pytest.mark.parametrize(("refusal", "reason"), [(401, "unauthorized"), (403, "forbidden")])
def test_a_catalog_that_listed_and_now_refuses_fails_the_crawl_with_why(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    server: FaultyRegistry,
    refusal: int,
    reason: str,
) -> None:
    assert link_and_settle(api, project, server)["catalog"] == "supported"
    first = crawl_finished(api, project, "faulty")
    assert first["crawl_error"] is None

    answer = challenge('Basic realm="x"', refusal) if refusal == 401 else server_error(refusal)
    server.script = [Rule("GET", "/v2/_catalog", answer)]
    response = api.post(
        "/v1/projects/demo/registries/faulty/crawl", headers=auth(project["owner_token"])
    )
    assert response.status_code == 202, response.text
    second = crawl_finished(api, project, "faulty", after=first["crawl_finished_at"])

    assert second["crawl_error"] == reason, "not catalog_unsupported: the catalog did list"
    assert repositories(api, project, "faulty") == sorted(REPOSITORIES)


# -- listing ---------------------------------------------------------------------------------


def test_failed_registry_is_listed_only_with_all(
    all_workers: Container, api: TestClient, project: dict[str, Any], server: FaultyRegistry
) -> None:
    with FaultyRegistry() as broken:
        broken.script = [Rule("GET", "/v2/", html_page())]
        assert link_and_settle(api, project, server, "good")["status"] == "verified"
        assert link_and_settle(api, project, broken, "broken")["status"] == "failed"

    def names(query: str) -> list[tuple[str, str]]:
        response = api.get(
            f"/v1/projects/demo/registries{query}", headers=auth(project["owner_token"])
        )
        assert response.status_code == 200, response.text
        return [(r["name"], r["status"]) for r in response.json()["registries"]]

    assert names("") == [("good", "verified")]
    assert names("?all=true") == [("broken", "failed"), ("good", "verified")]
