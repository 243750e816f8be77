"""`--wait` follows one thing, the command's own document: it stops at `succeeded` or
`failed` (the effect is settled) and exits 0 only on `succeeded`. A fake API answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import gateway.cli_commands
import gateway.client
from events.errors import TimedOut
from gateway.cli import app
from gateway.client import ApiClient

COMMAND = "/v1/commands/c-1"
REGISTRY = {
    "name": "hub",
    "status": "verified",
    "version": 2,
    "repository_count": 3,
    "tag_count": 7,
}


def command(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c-1",
        "type": "LinkRegistry",
        "project": "demo",
        "status": status,
        "error": None,
        "created_at": "2030-01-01T00:00:00",
        "finished_at": None,
        **extra,
    }


FAILED = command("failed", error={"code": "unauthorized", "message": "the registry said 401"})


class ScriptedApi(ApiClient):
    """Answers each (method, path) from a script; the last answer repeats."""

    def __init__(self, script: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        super().__init__("http://api.invalid", None)
        self.script = script
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        answers = self.script[(method, path)]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.client.time, "sleep", lambda _seconds: None)


def run_cli(monkeypatch: pytest.MonkeyPatch, api: ScriptedApi, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(gateway.cli_commands, "client", lambda: api)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def accepting(method: str, path: str, *outcomes: dict[str, Any]) -> ScriptedApi:
    return ScriptedApi(
        {(method, path): [{"command_id": "c-1", "status": "queued"}], ("GET", COMMAND): [*outcomes]}
    )


def test_waiting_goes_on_through_queued_and_running_until_a_terminal_status() -> None:
    api = ScriptedApi(
        {("GET", COMMAND): [command("queued"), command("running"), command("succeeded")]}
    )
    assert api.wait_for_command("c-1")["status"] == "succeeded"
    assert api.calls == [("GET", COMMAND)] * 3


def test_waiting_stops_at_failed_too() -> None:
    api = ScriptedApi({("GET", COMMAND): [command("running"), FAILED]})
    assert api.wait_for_command("c-1") == FAILED


def test_waiting_gives_up_after_its_timeout() -> None:
    api = ScriptedApi({("GET", COMMAND): [command("running")]})
    with pytest.raises(TimedOut, match="no outcome for command c-1"):
        api.wait_for_command("c-1", timeout=0)


def test_link_wait_prints_the_settled_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    api = accepting(
        "POST",
        "/v1/projects/demo/registries",
        command("running"),
        command("succeeded", registry=REGISTRY),
    )
    code, out, _ = run_cli(monkeypatch, api, "link", "demo", "hub", "https://r.test", "--wait")
    assert (code, out) == (0, "hub: verified (version 2)\n")


def test_a_failed_command_exits_1_with_its_error_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = accepting("PATCH", "/v1/projects/demo/registries/hub", command("running"), FAILED)
    code, out, err = run_cli(monkeypatch, api, "update", "demo", "hub", "--wait")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "command c-1: running",  # not a terminal: one plain line per state
        "error: unauthorized: the registry said 401",
        "hint: the details in force stay as they were; see `reglink show demo hub` and try "
        "again with `reglink update demo hub …`",
    ]


def test_json_prints_the_final_command_document_even_when_it_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = accepting("POST", "/v1/projects/demo/registries", FAILED)
    code, out, err = run_cli(
        monkeypatch, api, "link", "demo", "hub", "https://r.test", "--wait", "--json"
    )
    assert code == 1 and json.loads(out) == FAILED and "unauthorized" in err


def test_crawl_wait_reports_the_counts_of_the_new_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = accepting(
        "POST", "/v1/projects/demo/registries/hub/crawl", command("succeeded", registry=REGISTRY)
    )
    code, out, _ = run_cli(monkeypatch, api, "crawl", "demo", "hub", "--wait")
    assert (code, out) == (0, "hub: crawled, 3 repositories, 7 tags\n")


def test_a_failed_link_says_how_to_fix_or_remove_what_was_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = accepting("POST", "/v1/projects/demo/registries", FAILED)
    code, _, err = run_cli(monkeypatch, api, "link", "demo", "anon", "https://r.test", "--wait")
    assert code == 1
    assert err.splitlines()[-1] == (
        "hint: anon is kept as `failed`: fix it with `reglink update demo anon --url …` "
        "(or other options) or remove it with `reglink unlink demo anon`"
    )


def test_waiting_shows_the_crawl_counts_as_they_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    def crawling(repositories: int, tags: int) -> dict[str, Any]:
        progress = {"started_at": "2030-01-01T00:00:00", "repositories": repositories, "tags": tags}
        registry = {**REGISTRY, "activity": "crawling", "progress": progress}
        return command("running", registry=registry)

    api = accepting(
        "POST",
        "/v1/projects/demo/registries/hub/crawl",
        crawling(0, 0),
        crawling(0, 0),
        crawling(1000, 2500),
        command("succeeded", registry=REGISTRY),
    )
    code, _, err = run_cli(monkeypatch, api, "crawl", "demo", "hub", "--wait")
    assert code == 0
    assert err.splitlines() == [
        "hub: crawling, 0 repositories and 0 tags so far",
        "hub: crawling, 1000 repositories and 2500 tags so far",
    ]


def test_unlink_wait_says_unlinked(monkeypatch: pytest.MonkeyPatch) -> None:
    api = accepting(
        "DELETE", "/v1/projects/demo/registries/hub", command("succeeded", registry=None)
    )
    code, out, _ = run_cli(monkeypatch, api, "unlink", "demo", "hub", "--wait")
    assert (code, out) == (0, "hub: unlinked\n")


def test_without_wait_only_the_acceptance_is_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    api = accepting("POST", "/v1/projects/demo/registries/hub/crawl", command("running"))
    code, out, _ = run_cli(monkeypatch, api, "crawl", "demo", "hub")
    assert out.splitlines() == ["accepted: command c-1", "follow it with `reglink command c-1`"]
    assert code == 0
    assert ("GET", COMMAND) not in api.calls


def test_command_shows_status_error_and_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    api = ScriptedApi(
        {("GET", COMMAND): [{**FAILED, "registry": {**REGISTRY, "status": "failed"}}]}
    )
    code, out, _ = run_cli(monkeypatch, api, "command", "c-1")
    assert code == 0
    assert out.splitlines() == [
        "command c-1 (LinkRegistry): failed",
        "error: unauthorized: the registry said 401",
        "registry hub: failed (version 2)",
    ]


def test_command_json_prints_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    api = ScriptedApi({("GET", COMMAND): [command("running")]})
    code, out, _ = run_cli(monkeypatch, api, "command", "c-1", "--json")
    assert code == 0 and json.loads(out) == command("running")


def test_command_wait_exits_0_once_succeeded(monkeypatch: pytest.MonkeyPatch) -> None:
    api = ScriptedApi({("GET", COMMAND): [command("queued"), command("succeeded")]})
    code, out, _ = run_cli(monkeypatch, api, "command", "c-1", "--wait")
    assert (code, out) == (0, "command c-1 (LinkRegistry): succeeded\n")


def test_command_wait_exits_1_once_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    api = ScriptedApi({("GET", COMMAND): [command("running"), FAILED]})
    code, out, err = run_cli(monkeypatch, api, "command", "c-1", "--wait")
    assert code == 1
    assert out == "command c-1 (LinkRegistry): failed\n"
    assert err == "command c-1: running\nerror: unauthorized: the registry said 401\n"
