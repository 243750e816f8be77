"""A malicious registry: its catalog answers path traversal, control characters, markup and
10 kB names. The crawl skips what the distribution spec does not allow (never requesting,
storing or showing it) and keeps the rest; the API answers JSON-escaped text and the CLI
prints no raw control character, even for names stored before this rule existed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from events.envelope import utcnow
from gateway import cli_browse
from gateway.bootstrap import Container
from gateway.cli import app
from gateway.client import ApiClient
from store.identity import find_project
from store.tables import CatalogRepository, CatalogTag, Registry
from tests.conftest import auth
from tests.polling import wait_until
from tests.support.faulty import FaultyRegistry

HOSTILE = {
    "team/app": ["1.0", "../../etc", "<script>alert(1)</script>", "red\x1b[31m", "t" * 10_000],
    "../escape": ["1"],
    "evil\x1b[2J\x07": ["1"],
    "<b>html</b>": ["1"],
    "r" * 10_000: ["1"],
    "ok/app": ["v1"],
    "nul\x00byte": ["1"],
    "rtl\u202eevil": ["1"],
}
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reglink.db'}"


@pytest.fixture
def hostile() -> Iterator[FaultyRegistry]:
    with FaultyRegistry(HOSTILE) as server:
        yield server


@pytest.fixture
def cli(api: TestClient, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`reglink …` as alice, talking to the test's app in-process."""

    def client() -> ApiClient:
        wired = ApiClient(str(api.base_url), project["owner_token"])
        wired._http = TestClient(api.app, headers=auth(project["owner_token"]))
        return wired

    monkeypatch.setattr(cli_browse, "client", client)
    return CliRunner()


def get(api: TestClient, project: dict[str, Any], path: str) -> Any:
    response = api.get(f"/v1/projects/demo/registries/{path}", headers=auth(project["owner_token"]))
    assert response.status_code == 200, response.text
    assert not re.search(r"[\x00-\x1f]", response.text), "JSON escapes control characters"
    return response.json()


def test_hostile_names_are_skipped_and_the_rest_is_crawled(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    hostile: FaultyRegistry,
    cli: CliRunner,
) -> None:
    linked = api.post(
        "/v1/projects/demo/registries",
        json={"name": "evil", "url": hostile.url},
        headers=auth(project["owner_token"]),
    )
    assert linked.status_code == 202, linked.text

    def finished() -> dict[str, Any]:
        response = api.get(
            "/v1/projects/demo/registries/evil", headers=auth(project["owner_token"])
        )
        document = response.json() if response.status_code == 200 else {}
        return document if document.get("crawl_finished_at") else {}

    crawled = wait_until(finished, timeout=15, what="the crawl of the hostile registry")
    assert crawled["status"] == "verified" and crawled["crawl_error"] is None
    repositories = get(api, project, "evil/repositories")["repositories"]
    assert [r["name"] for r in repositories] == ["ok/app", "team/app"]
    tags = get(api, project, "evil/repositories/team/app/tags")["tags"]
    assert [t["tag"] for t in tags] == ["1.0"]
    asked = [seen.path for seen in hostile.requests]
    assert not [p for p in asked if ".." in p or "escape" in p or "evil" in p or len(p) > 300]

    shown = cli.invoke(app, ["repos", "demo", "evil"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == ["ok/app  (1 tag)", "team/app  (1 tag)"]


def test_names_stored_earlier_are_shown_escaped(
    container: Container, api: TestClient, project: dict[str, Any], cli: CliRunner
) -> None:
    """Whatever is in the store (an older crawl's rows), output never carries it raw."""
    with container.uow() as uow:
        demo = find_project(uow.session, "demo")
        registry = Registry(
            id="r-old",
            project_id=demo.id,
            name="old",
            active_name="old",
            url="https://old.example.test",
            auth="anonymous",
            status="verified",
            catalog="supported",
            catalog_generation="g",
            crawled_at=utcnow(),
        )
        uow.session.add(registry)
        uow.session.flush()
        for name in ("evil\x1b[2J\x07", "<script>x</script>", "rtl\u202eevil"):
            uow.session.add(CatalogRepository(registry_id="r-old", generation="g", name=name))
        uow.session.add(
            CatalogTag(
                registry_id="r-old",
                generation="g",
                repository="evil\x1b[2J\x07",
                tag="\x1b]0;pwned\x07",
            )
        )
        uow.commit()
    listed = get(api, project, "old/repositories")["repositories"]
    assert {r["name"] for r in listed} == {"evil\x1b[2J\x07", "<script>x</script>", "rtl\u202eevil"}
    shown = cli.invoke(app, ["repos", "demo", "old"])
    assert shown.exit_code == 0, shown.output
    assert not RAW_CONTROL.search(shown.output)
    assert "evil\\x1b[2J\\x07" in shown.output and "rtl\\u202eevil" in shown.output
    as_json = cli.invoke(app, ["repos", "demo", "old", "--json"])
    assert not RAW_CONTROL.search(as_json.output) and "\\u001b" in as_json.output
