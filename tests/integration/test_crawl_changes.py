"""A registry says what its last crawl changed since the one before: in the API document
and on its page in the console."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from tests.conftest import auth
from tests.integration.browse import link, registry, settled
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry


def test_a_recrawl_reports_the_tags_added_since_the_crawl_before(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    token = project["owner_token"]
    push_image(anon_registry.url, "team/app", "1.0")
    link(api, token, name="r", url=anon_registry.url)
    first = settled(api, token, "r")
    assert first["changes"] is None, "a first crawl has nothing to compare with"

    push_image(anon_registry.url, "team/app", "2.0")
    push_image(anon_registry.url, "team/web", "1.0")
    crawl = api.post("/v1/projects/demo/registries/r/crawl", headers=auth(token))
    assert crawl.status_code == 202
    command = crawl.json()["command_id"]
    wait_until(
        lambda: (
            api.get(f"/v1/commands/{command}", headers=auth(token)).json()["status"] == "succeeded"
        ),
        what="the re-crawl",
    )
    changes = registry(api, token, "r")["changes"]
    assert changes == {
        "added_count": 2,
        "removed_count": 0,
        "added": ["team/app:2.0", "team/web:1.0"],
        "removed": [],
    }
