"""Reading commands say what there is, and what is going on: `show` the crawl in
progress, `repos` a registry never crawled, `tags` the media type, counts in English."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import gateway.cli_browse
from gateway.cli import app
from gateway.client import ApiClient

REGISTRY: dict[str, Any] = {
    "name": "hub",
    "status": "verified",
    "version": 1,
    "crawled_at": None,
    "activity": "crawling",
    "progress": {"started_at": "2030-01-01T00:00:00", "repositories": 1, "tags": 250},
}


class FixedApi(ApiClient):
    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        super().__init__("http://api.invalid", None)
        self.answers = answers

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.answers[path]


def run(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any], *args: str) -> Any:
    monkeypatch.setattr(gateway.cli_browse, "client", lambda: FixedApi(answers))
    return CliRunner().invoke(app, list(args))


def test_show_says_a_crawl_is_running_and_how_far_it_got(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = run(monkeypatch, {"/v1/projects/demo/registries/hub": REGISTRY}, "show", "demo", "hub")
    assert shown.stdout.splitlines()[-1] == (
        "activity: crawling since 2030-01-01T00:00:00, 1 repository and 250 tags so far"
    )


def test_repos_of_a_registry_never_crawled_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = run(
        monkeypatch, {"/v1/projects/demo/registries/hub": REGISTRY}, "repos", "demo", "hub"
    )
    assert listed.exit_code == 1
    assert listed.stderr.splitlines() == [
        "error: not_found: hub has not been crawled yet (a crawl is running)",
        "hint: wait for it with `reglink crawl demo hub --wait`",
    ]


def test_repos_and_tags_in_text(monkeypatch: pytest.MonkeyPatch) -> None:
    crawled = {**REGISTRY, "crawled_at": "2030-01-01T00:00:00", "activity": None}
    base = "/v1/projects/demo/registries/hub"
    answers = {
        base: crawled,
        f"{base}/repositories": {
            "repositories": [{"name": "a", "tags": 1}, {"name": "b", "tags": 2}]
        },
        f"{base}/repositories/a/tags": {
            "tags": [
                {
                    "tag": "1.0",
                    "digest": "sha256:" + "0" * 64,
                    "media_type": "application/vnd.oci.image.index.v1+json",
                    "platforms": ["linux/amd64", "linux/arm64"],
                }
            ]
        },
    }
    repos = run(monkeypatch, answers, "repos", "demo", "hub")
    assert repos.stdout.splitlines() == ["a  (1 tag)", "b  (2 tags)"]
    tags = run(monkeypatch, answers, "tags", "demo", "hub", "a")
    assert tags.stdout.split() == [
        "1.0",
        "sha256:" + "0" * 64,
        "application/vnd.oci.image.index.v1+json",
        "linux/amd64,linux/arm64",
    ]
