"""The console in a real browser: Debian's chromium driven by Playwright against
`reglink up` and the real registry behind htpasswd. One `reglink up` and one browser
serve the whole module, so the suite stays quick; each test uses its own registry names.

Screenshots land in tests/browser/artifacts/<test>/ (kept by CI, ignored by git)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import USERS
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy
from tests.support.images import push_image
from tests.support.registry import RunningRegistry, start_registry

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: no browser is downloaded
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


@dataclass
class Console:
    url: str
    env: dict[str, str]
    registry: RunningRegistry
    owner_token: str
    member_token: str
    digests: dict[str, str] = field(default_factory=dict)  # "repo:tag" -> digest pushed


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    with start_registry(root, auth="htpasswd", htpasswd_users=dict(USERS)) as registry:
        alice = ("alice", USERS["alice"])
        digests = {
            "team/app:1.0": push_image(registry.url, "team/app", "1.0", auth=alice),
            "team/app:2.0": push_image(registry.url, "team/app", "2.0", auth=alice),
            "tools/lint:latest": push_image(registry.url, "tools/lint", "latest", auth=alice),
        }
        port = free_port()
        env = base_env(
            REGLINK_DATA_DIR=str(root / "data"),
            REGLINK_API_URL=f"http://127.0.0.1:{port}",
            REGLINK_INSECURE_HOSTS="127.0.0.1",
            REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
            REGLINK_RETRY_BACKOFF_MS="50",
            REGLINK_VERIFY_ATTEMPTS="1",
        )
        with process(["up", "--port", str(port)], env, root / "up.log") as proc:
            wait_healthy(env["REGLINK_API_URL"], proc, root / "up.log")
            owner = cli_json(env, "admin", "create-project", "demo", "--owner", "owner1")
            member = cli_json(env, "admin", "add-member", "demo", "viewer1", "--role", "member")
            yield Console(
                env["REGLINK_API_URL"], env, registry, owner["token"], member["token"], digests
            )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)  # assertions too: a loaded machine is slow, not wrong
    yield opened
    context.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder, emptied first."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(
        path=str(folder / f"{len(list(folder.glob('*.png'))):02d}-{name}.png"), full_page=True
    )


def accessible(page: Page) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await window.axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: " + "; ".join(bad)


def sign_in(page: Page, console: Console, token: str) -> None:
    page.goto(f"{console.url}/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your projects").wait_for()


def run_cli(console: Console, *args: str) -> None:
    env = {**console.env, "REGLINK_TOKEN": console.owner_token}
    result = cli(env, *args)
    assert result.returncode == 0, result.stderr
