"""API tokens expire and are revoked, and a token that no longer holds stops working at
once; `reglink admin` lists them without ever showing one, and grants the operator role."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from events.errors import InvalidInput, NotFound
from gateway.admin import issue_token, list_tokens, revoke_token
from gateway.bootstrap import Container
from gateway.cli import app
from gateway.settings import Settings
from store.tables import ApiToken
from tests.conftest import auth

REGISTRIES = "/v1/projects/demo/registries"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reglink.db'}"


def token_id(settings: Settings, user: str, nth: int = 0) -> str:
    return str([t for t in list_tokens(settings)["tokens"] if t["user"] == user][nth]["id"])


def test_a_revoked_token_stops_working_at_once(
    api: TestClient, project: dict[str, Any], settings: Settings
) -> None:
    owner = auth(project["owner_token"])
    assert api.get(REGISTRIES, headers=owner).status_code == 200
    revoked = revoke_token(settings, token_id(settings, "alice"))
    assert revoked["revoked_at"]
    refused = api.get(REGISTRIES, headers=owner)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    assert api.get(REGISTRIES, headers=auth(project["member_token"])).status_code == 200
    with pytest.raises(NotFound):
        revoke_token(settings, "no-such-token")


def test_a_token_works_until_it_expires(
    api: TestClient, container: Container, project: dict[str, Any], settings: Settings
) -> None:
    until = datetime.now(UTC) + timedelta(days=1)
    issued = issue_token(settings, "alice", until)
    assert api.get(REGISTRIES, headers=auth(issued["token"])).status_code == 200
    with container.uow() as uow:  # a day passes
        row = uow.session.get(ApiToken, token_id(settings, "alice", 1))
        assert row is not None and row.expires_at == until
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        uow.session.add(row)
        uow.commit()
    assert api.get(REGISTRIES, headers=auth(issued["token"])).status_code == 401
    assert api.get(REGISTRIES, headers=auth(project["owner_token"])).status_code == 200
    with pytest.raises(InvalidInput, match="future"):
        issue_token(settings, "alice", datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(NotFound):
        issue_token(settings, "nobody")


def test_admin_commands_list_revoke_issue_and_grant(
    api: TestClient, project: dict[str, Any], settings: Settings
) -> None:
    env = {
        "REGLINK_DATABASE_URL": settings.database_url or "",
        "REGLINK_DATA_DIR": str(settings.data_dir),
    }
    runner = CliRunner()

    def admin(*args: str) -> Any:
        result = runner.invoke(app, ["admin", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    listed = json.loads(admin("list-tokens", "--json"))["tokens"]
    assert [(t["user"], t["revoked_at"], t["expires_at"]) for t in listed] == [
        ("alice", None, None),
        ("bob", None, None),
    ]
    shown = admin("list-tokens") + json.dumps(listed)
    assert project["owner_token"] not in shown and project["member_token"] not in shown

    issued = json.loads(admin("issue-token", "bob", "--expires-at", "2999-01-01", "--json"))
    assert issued["expires_at"].startswith("2999-01-01T00:00:00")
    assert api.get(REGISTRIES, headers=auth(issued["token"])).status_code == 200
    assert "revoked" in admin("revoke-token", listed[1]["id"])
    assert api.get(REGISTRIES, headers=auth(project["member_token"])).status_code == 401
    assert api.get(REGISTRIES, headers=auth(issued["token"])).status_code == 200

    bob = auth(issued["token"])
    assert api.get("/v1/ops/queues", headers=bob).status_code == 403
    assert "now an operator" in admin("grant-operator", "bob")
    assert api.get("/v1/ops/queues", headers=bob).status_code == 200
    assert "no longer" in admin("revoke-operator", "bob")
    assert api.get("/v1/ops/queues", headers=bob).status_code == 403
    unknown = runner.invoke(app, ["admin", "grant-operator", "nobody"], env=env)
    assert unknown.exit_code == 1 and "not_found" in unknown.output
