"""What a build job receives works with containers/image (skopeo) as it is, for every auth
type: delivered through the real flow (API -> Redis -> workers -> signed webhook) and
used against the real registry, the current version is accepted and a revoked one refused.
Basic auth's rotated password is covered end to end in tests/e2e/test_deliveries_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from tests.conftest import REFRESH, USERS, auth
from tests.integration.browse import link, settled
from tests.integration.test_deliveries import add_job, data, outcome, use, wait_events
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.skopeo import skopeo_inspect
from tests.support.token_server import TokenServer
from tests.support.webhook_receiver import WebhookReceiver

IMAGE = "team/app:1.0"


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def delivered_config(
    api: TestClient, token: str, hooks: WebhookReceiver, job: str, count: int = 1
) -> dict[str, Any]:
    """The `data.config` of the job's `count`th delivery."""
    event = wait_events(hooks, job, count)[count - 1]
    config: dict[str, Any] = data(event)["config"]
    return config


def test_an_anonymous_registry_is_delivered_empty_auths_that_skopeo_pulls_with(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    hooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    push_image(anon_registry.url, "team/app", "1.0")
    token = project["owner_token"]
    link(api, token, name="hub", url=anon_registry.url)
    assert settled(api, token, "hub")["status"] == "verified"
    add_job(api, token, hooks, "ci")
    assert use(api, token, "ci", "hub").status_code == 200

    config = delivered_config(api, token, hooks, "ci")
    assert config == {"auths": {}}
    pulled = skopeo_inspect(anon_registry.host, IMAGE, config, tmp_path / "auth.json")
    assert pulled.returncode == 0, pulled.stderr


def test_an_oauth2_registry_is_delivered_a_refresh_token_skopeo_trades_and_revocation_holds(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    token_server: TokenServer,
    token_registry: RunningRegistry,
    hooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    push_image(token_registry.url, "team/app", "1.0", auth=("alice", USERS["alice"]))
    token = project["owner_token"]
    link(api, token, name="oauth", url=token_registry.url, auth="oauth2", token=REFRESH)
    assert settled(api, token, "oauth")["status"] == "verified"
    add_job(api, token, hooks, "ci")
    assert use(api, token, "ci", "oauth").status_code == 200
    first = delivered_config(api, token, hooks, "ci")
    entry = first["auths"][token_registry.host]
    assert entry["identitytoken"] == REFRESH and entry["auth"]

    token_server.clear_requests()
    pulled = skopeo_inspect(token_registry.host, IMAGE, first, tmp_path / "v1.json")
    assert pulled.returncode == 0, pulled.stderr
    trades = [r for r in token_server.requests if r.grant_type == "refresh_token"]
    assert trades and {(r.method, r.client_id, r.status) for r in trades} == {
        ("POST", "containers/image", 200)
    }, "skopeo traded the delivered refresh token, not an anonymous pull"

    rotated = token_server.new_refresh_token("alice")
    response = api.patch(
        "/v1/projects/demo/registries/oauth", json={"token": rotated}, headers=auth(token)
    )
    assert response.status_code == 202, response.text
    assert outcome(api, token, response.json()["command_id"])["status"] == "succeeded"
    second = delivered_config(api, token, hooks, "ci", count=2)
    assert second["auths"][token_registry.host]["identitytoken"] == rotated
    del token_server.refresh_tokens[REFRESH]  # the registry's owner revokes the old token

    current = skopeo_inspect(token_registry.host, IMAGE, second, tmp_path / "v2.json")
    assert current.returncode == 0, current.stderr
    revoked = skopeo_inspect(token_registry.host, IMAGE, first, tmp_path / "v1-again.json")
    assert revoked.returncode != 0 and "unauthorized" in revoked.stderr.lower(), revoked.stderr
