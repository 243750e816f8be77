"""One registry's faults cost a bounded share: while four registries hang and four
answer 429 (Retry-After: 3600) at the crawl stage, an unrelated link is verified in
seconds, and the rate-limited crawls say they are being retried, and until when."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from tests.conftest import auth
from tests.integration.browse import link, registry
from tests.polling import wait_until
from tests.support.faulty import FaultyRegistry, Rule, rate_limited, slow
from tests.support.registry import RunningRegistry

TAGS = "/v2/team/app/tags/list"
DEFAULT_UNRELATED_WITHIN = 10.0  # seconds the issue allows an unrelated link


def test_hanging_and_rate_limited_crawls_never_delay_an_unrelated_link(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    with ExitStack() as stack:
        hanging = [stack.enter_context(FaultyRegistry({"team/app": ["1"]})) for _ in range(4)]
        limited = [stack.enter_context(FaultyRegistry({"team/app": ["1"]})) for _ in range(4)]
        for server in hanging:
            server.script = [Rule("GET", TAGS, slow(600))]
        for server in limited:
            server.script = [Rule("GET", TAGS, rate_limited("3600"))]
        for i, server in enumerate(limited):
            link(api, token, name=f"faulty{i}", url=server.url)
        wait_until(
            lambda: all(server.seen("GET", TAGS) for server in limited),
            timeout=30,
            what="the rate-limited crawls sent back to wait",
        )
        for i, server in enumerate(hanging, start=len(limited)):
            link(api, token, name=f"faulty{i}", url=server.url)
        wait_until(
            lambda: sum(bool(server.seen("GET", TAGS)) for server in hanging) >= 2,
            timeout=30,
            what="hanging crawls holding every crawl thread",
        )

        command_id = link(api, token, name="unrelated", url=anon_registry.url)
        done = wait_until(
            lambda: (
                (d := api.get(f"/v1/commands/{command_id}", headers=auth(token)).json())["status"]
                in ("succeeded", "failed")
                and d
            ),
            timeout=DEFAULT_UNRELATED_WITHIN,
            what="the unrelated link verified",
        )
        assert (done["status"], done["registry"]["status"]) == ("succeeded", "verified")

        retried = wait_until(
            lambda: (
                all(registry(api, token, f"faulty{i}")["retry"] for i in range(4))
                and [registry(api, token, f"faulty{i}")["retry"] for i in range(4)]
            ),
            what="the rate-limited crawls shown as retried",
        )
        for retry in retried:
            assert (retry["step"], retry["reason"]) == ("crawl_registry", "rate_limited")
            assert retry["attempt"] == 1 and retry["next_try_at"] is not None
        for server in limited:
            assert len(server.seen("GET", TAGS)) == 1, "the 429 wait went back to the broker"
