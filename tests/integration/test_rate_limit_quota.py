"""Docker Hub's quota headers (`ratelimit-remaining: N;w=SECONDS`), honoured.

A 429 that names no `Retry-After` waits the window of the spent quota; a crawl that is told
its quota is spent stops asking and goes back to the broker for the window, keeping the
previous snapshot. Against `FaultyRegistry` on loopback, through the guarded client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.settings import Settings
from tests.conftest import NamespacedRedis, auth, settings_for
from tests.integration.browse import link, registry, settled
from tests.polling import wait_until
from tests.support.faulty import FaultyRegistry, Rule, docker_hub_quota, rate_limited
from workers.crawl import with_backoff
from workers.deps import DEFAULT_MAX_RETRY_DELAY_MS
from workers.outbound.errors import RateLimited
from workers.outbound.guard import Guard
from workers.outbound.guarded_http import make_client
from workers.outbound.registry_client import Credentials, RegistryClient

WINDOW = 3600  # seconds: the quota window the registry announces
PAGE = 2  # catalog_page_size: three repositories make two pages
REPOSITORIES = {"library/alpine": ["3.20"], "team/api": ["1.0"], "team/app": ["1.0", "1.1"]}
ANONYMOUS = Credentials("anonymous", None, None)


@pytest.fixture
def server() -> Iterator[FaultyRegistry]:
    with FaultyRegistry(REPOSITORIES) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    guard = Guard(allowed_networks=["127.0.0.0/8"], insecure_hosts=["127.0.0.0/8"])
    with make_client(guard, timeout=httpx.Timeout(5.0), max_response_bytes=1 << 20) as client:
        yield client


def spent_everywhere(server: FaultyRegistry, reply: Any = None) -> list[Rule]:
    """Rules that answer every path of the registry with the quota spent."""
    paths = ["/v2/", "/v2/_catalog"] + [
        path
        for name, tags in REPOSITORIES.items()
        for path in [f"/v2/{name}/tags/list"] + [f"/v2/{name}/manifests/{t}" for t in tags]
    ]
    quota = docker_hub_quota(0, WINDOW, then=reply)
    return [Rule(method, path, quota) for path in paths for method in ("GET", "HEAD")]


def asked(server: FaultyRegistry, since: int = 0) -> list[tuple[str, str, dict[str, str], int]]:
    return [(s.method, s.path, s.query, s.status or 0) for s in server.requests[since:]]


# -- the client --------------------------------------------------------------------------------


def test_a_429_without_retry_after_waits_the_window_of_the_spent_quota(
    server: FaultyRegistry, http: httpx.Client
) -> None:
    server.script = [Rule("GET", "/v2/", docker_hub_quota(0, WINDOW, rate_limited(None)))]

    with pytest.raises(RateLimited) as refused:
        RegistryClient(http, server.url, ANONYMOUS).ping()

    assert refused.value.retry_after == WINDOW


def test_a_429_with_retry_after_waits_that_rather_than_the_window(
    server: FaultyRegistry, http: httpx.Client
) -> None:
    server.script = [Rule("GET", "/v2/", docker_hub_quota(0, WINDOW, rate_limited("30")))]

    with pytest.raises(RateLimited) as refused:
        RegistryClient(http, server.url, ANONYMOUS).ping()

    assert refused.value.retry_after == 30


def test_verification_is_not_stopped_by_a_spent_quota_on_good_answers(
    server: FaultyRegistry, http: httpx.Client
) -> None:
    server.script = spent_everywhere(server)

    assert RegistryClient(http, server.url, ANONYMOUS).check() == "supported"
    assert [status for *_, status in asked(server)] == [200, 200]


def test_a_crawling_client_stops_asking_once_an_answer_says_the_quota_is_spent(
    server: FaultyRegistry, http: httpx.Client
) -> None:
    server.script = spent_everywhere(server)
    client = RegistryClient(http, server.url, ANONYMOUS, page_size=PAGE).crawling()
    backoff_ms = lambda attempt, retry_after: int(1000 * (retry_after or 0.05))  # noqa: E731

    with pytest.raises(RateLimited) as stopped:
        with_backoff(lambda: list(client.catalog_pages()), backoff_ms)
    with pytest.raises(RateLimited) as not_asked:
        with_backoff(lambda: list(client.tags("team/app")), backoff_ms)

    assert stopped.value.retry_after == WINDOW
    assert not_asked.value.retry_after is not None and 0 < not_asked.value.retry_after <= WINDOW
    assert asked(server) == [("GET", "/v2/_catalog", {"n": str(PAGE)}, 200)]
    assert client.requests_sent == 1


# -- a crawl, through the workers ------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    return settings_for(tmp_path, database_url, redis_client, catalog_page_size=PAGE)


def test_a_crawl_told_the_quota_is_spent_goes_back_to_the_broker_for_the_window(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    server: FaultyRegistry,
) -> None:
    token = project["owner_token"]
    link(api, token, name="hub", url=server.url, auth="anonymous")
    first = settled(api, token, "hub")
    assert first["status"] == "verified" and first["crawl_error"] is None
    before = len(server.requests)
    server.script = spent_everywhere(server)

    asked_at = datetime.now(UTC)
    response = api.post("/v1/projects/demo/registries/hub/crawl", headers=auth(token))
    assert response.status_code == 202, response.text
    retried = wait_until(
        lambda: registry(api, token, "hub")["retry"], what="the crawl sent back to wait"
    )
    seen_at = datetime.now(UTC)

    assert (retried["step"], retried["reason"]) == ("crawl_registry", "rate_limited")
    # the window (3600 s) is the wait asked for; the actor layer caps what it waits
    cap = timedelta(milliseconds=DEFAULT_MAX_RETRY_DELAY_MS)
    next_try = datetime.fromisoformat(retried["next_try_at"])
    assert asked_at + cap - timedelta(seconds=1) <= next_try <= seen_at + cap + timedelta(seconds=1)
    assert asked(server, before) == [("GET", "/v2/_catalog", {"n": str(PAGE)}, 200)], (
        "nothing asked after the answer that said the quota is spent"
    )
    now = registry(api, token, "hub")
    assert now["crawled_at"] == first["crawled_at"], "the previous snapshot stays"
    assert now["repository_count"] == len(REPOSITORIES)
