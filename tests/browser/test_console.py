"""The web console as a project owner and a member use it, in Debian's chromium."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import PHONE, Console, accessible, run_cli, shoot, sign_in
from tests.conftest import USERS
from tests.polling import wait_until
from tests.support.images import push_image

pytestmark = pytest.mark.browser


def link_through_form(page: Page, console: Console, name: str, password: str) -> None:
    page.goto(f"{console.url}/projects/demo/registries")
    page.get_by_role("link", name="+ Link External Registry").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill("the team's registry")
    page.get_by_label("Registry URL").fill(console.registry.url)
    page.get_by_label("Basic (username and password)").check()
    page.get_by_label("Username", exact=True).fill("alice")
    page.get_by_label("Password", exact=True).fill(password)


def test_owner_links_a_registry_and_browses_its_tags(
    page: Page, console: Console, shots: Path
) -> None:
    sign_in(page, console, console.owner_token)
    accessible(page)
    shoot(page, shots, "projects")
    page.get_by_role("link", name="demo").click()
    expect(page).to_have_title(re.compile("Docker Registries"))

    link_through_form(page, console, "private", USERS["alice"])
    expect(page.get_by_label("Token", exact=True)).to_be_hidden()  # only the chosen type's fields
    accessible(page)
    shoot(page, shots, "link-form")
    page.get_by_role("button", name="Create").click()

    expect(page.locator('[data-step="verified"]')).to_have_class(re.compile("step-done"))
    expect(page.get_by_role("link", name="Browse private")).to_be_visible()
    assert USERS["alice"] not in page.content()  # the secret is never echoed back
    accessible(page)
    shoot(page, shots, "link-followed")

    page.get_by_role("link", name="Browse private").click()
    expect(page.get_by_text("2 repositories")).to_be_visible()
    page.get_by_label("Filter repositories").fill("team")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("1 repository matching")).to_be_visible()
    accessible(page)
    shoot(page, shots, "registry")

    page.get_by_role("link", name="team/app").click()
    host = console.registry.url.split("://", 1)[1]
    for tag in ("1.0", "2.0"):
        card = page.locator(f'[data-tag="{tag}"]')
        digest = console.digests[f"team/app:{tag}"]
        expect(card.locator("code.digest")).to_have_text(digest)
        expect(card.get_by_text(f"{host}/team/app:{tag}", exact=True)).to_be_visible()
        expect(card.get_by_text(f"{host}/team/app@{digest}", exact=True)).to_be_visible()
    accessible(page)
    shoot(page, shots, "repository")
    page.set_viewport_size(PHONE)
    shoot(page, shots, "repository-phone")

    page.goto(f"{console.url}/projects/demo/registries")
    row = page.get_by_role("row", name=re.compile("private"))
    expect(row).to_contain_text("verified")
    expect(row.get_by_role("cell").nth(4)).to_have_text("2")  # repositories
    accessible(page)
    shoot(page, shots, "registries-phone")

    push_image(console.registry.url, "team/app", "3.0", auth=("alice", USERS["alice"]))
    registry_page = f"{console.url}/projects/demo/registries/private"
    page.goto(registry_page)
    page.get_by_role("button", name="Crawl now").click()

    def changes_shown() -> bool:
        page.goto(registry_page)
        return "1 tag added, 0 removed" in page.content()

    wait_until(changes_shown, timeout=30, what="what the re-crawl changed, on the page")
    page.get_by_text("Which").click()
    expect(page.get_by_text("+ team/app:3.0")).to_be_visible()
    accessible(page)
    shoot(page, shots, "registry-changes")


def test_a_wrong_password_shows_the_reason_next_to_the_password(
    page: Page, console: Console, shots: Path
) -> None:
    sign_in(page, console, console.owner_token)
    link_through_form(page, console, "wrongpw", "not-the-password")
    page.get_by_role("button", name="Create").click()

    error = page.locator("#password-error")
    expect(error).to_contain_text("unauthorized")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-step="verifying"]')).to_have_class(re.compile("step-failed"))
    accessible(page)
    shoot(page, shots, "failed")

    page.goto(f"{console.url}/projects/demo/registries")
    expect(page.get_by_role("heading", name="Pending and failed")).to_be_visible()
    expect(page.get_by_text("Verification failed: unauthorized")).to_be_visible()
    shoot(page, shots, "failed-listed")

    page.get_by_role("link", name="Fix and verify again wrongpw").click()
    page.get_by_label("Password", exact=True).fill(USERS["alice"])
    page.get_by_role("button", name="Save and verify").click()
    expect(page.get_by_role("link", name="Browse wrongpw")).to_be_visible()
    shoot(page, shots, "fixed")


def test_edit_refuses_a_stale_form_and_unlink_names_the_jobs(
    page: Page, console: Console, shots: Path
) -> None:
    sign_in(page, console, console.owner_token)
    link_through_form(page, console, "edited", USERS["alice"])
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("link", name="Browse edited")).to_be_visible()

    edit_url = f"{console.url}/projects/demo/registries/edited/edit"
    stale = page.context.new_page()
    stale.goto(edit_url)  # opened on version 1, submitted after version 2
    page.goto(edit_url)
    page.get_by_label("Description").fill("renamed team registry")
    accessible(page)
    shoot(page, shots, "edit-form")
    page.get_by_role("button", name="Save and verify").click()
    expect(page.locator('[data-step="verified"]')).to_have_class(re.compile("step-done"))

    stale.get_by_label("Description").fill("an older idea")
    stale.get_by_role("button", name="Save and verify").click()
    expect(stale.locator("#form-error")).to_contain_text("Someone changed this registry")
    shoot(stale, shots, "edit-stale")
    page.goto(f"{console.url}/projects/demo/registries/edited")
    expect(page.get_by_text("renamed team registry")).to_be_visible()

    run_cli(console, "jobs", "add", "demo", "build-1", "--webhook", "http://127.0.0.1:9/hook")
    run_cli(console, "jobs", "use", "demo", "build-1", "edited")
    page.get_by_role("link", name="Unlink").click()
    expect(page.get_by_text("build-1")).to_have_count(2)  # named, and in the force label
    page.get_by_role("button", name="Unlink edited").click()
    expect(page.locator("#force-error")).to_contain_text("build-1")
    accessible(page)
    shoot(page, shots, "unlink-refused")
    page.get_by_label("Revoke it from build-1 too").check()
    page.get_by_role("button", name="Unlink edited").click()
    expect(page.locator('[data-step="unlinked"]')).to_have_class(re.compile("step-done"))
    page.goto(f"{console.url}/projects/demo/registries")
    expect(page.get_by_role("link", name="edited")).to_have_count(0)

    page.goto(f"{console.url}/projects/demo/jobs")
    expect(page.get_by_role("heading", name="build-1")).to_be_visible()
    expect(page.get_by_role("cell", name="unlinked").first).to_be_visible()
    accessible(page)
    shoot(page, shots, "jobs")


def test_members_read_and_forms_need_the_session_and_its_csrf_token(
    page: Page, console: Console, shots: Path
) -> None:
    sign_in(page, console, console.member_token)
    page.goto(f"{console.url}/projects/demo/registries")
    expect(page.get_by_role("link", name="+ Link External Registry")).to_have_count(0)
    page.goto(f"{console.url}/projects/demo/link")
    expect(page.get_by_role("alert")).to_contain_text("only owners")
    shoot(page, shots, "member-refused")

    cookie = next(c for c in page.context.cookies() if c["name"] == "reglink_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert console.member_token not in cookie["value"]
    forged = httpx.post(
        f"{console.url}/projects/demo/registries/private/crawl",
        cookies={"reglink_session": cookie["value"]},
        data={"csrf": "forged"},
    )
    assert forged.status_code == 403

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    page.goto(f"{console.url}/projects/demo/registries")
    expect(page).to_have_url(re.compile("/signin"))
    page.get_by_label("API token").fill("rlk_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("not valid")
    accessible(page)
    shoot(page, shots, "signin-refused")


def test_console_and_api_docs_load_nothing_from_other_hosts(
    page: Page, console: Console, shots: Path
) -> None:
    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(console.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    sign_in(page, console, console.owner_token)
    page.goto(f"{console.url}/docs")
    expect(page.get_by_text("/v1/projects/{project}/registries").first).to_be_visible()
    shoot(page, shots, "api-docs")
    assert outside == []
