"""The update rules a pre-check applies before anything changes (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from events.errors import CommandRejected, Conflict, InvalidInput
from events.messages import UpdateRegistry
from store.prechecks import merged_details
from store.tables import Registry


def registry(**fields: Any) -> Registry:
    values: dict[str, Any] = {
        "id": "r1",
        "project_id": "p1",
        "name": "hub",
        "active_name": "hub",
        "url": "https://registry.example.test",
        "auth": "basic",
        "username": "ci",
        "status": "verified",
        "version": 3,
        "repositories": ["team/app"],
    }
    return Registry(**{**values, **fields})


def update(**fields: Any) -> UpdateRegistry:
    return UpdateRegistry(project="demo", name="hub", **fields)


@pytest.mark.parametrize(
    ("current", "command", "has_secret", "error", "words"),
    [
        (registry(), update(expected_version=2), False, Conflict, "version 3, not 2"),
        (registry(status="pending"), update(description="x"), False, Conflict, "being verified"),
        (registry(status="unlinked"), update(description="x"), False, Conflict, "unlinked"),
        (
            registry(),
            update(url="https://elsewhere.example.test"),
            False,
            InvalidInput,
            "entered again",
        ),
        (registry(), update(auth="oauth2"), False, InvalidInput, "entered again"),
        (registry(), update(auth="basic", username=""), True, CommandRejected, "username"),
    ],
)
def test_an_update_that_may_not_happen_is_refused_with_the_reason(
    current: Registry,
    command: UpdateRegistry,
    has_secret: bool,
    error: type[Exception],
    words: str,
) -> None:
    with pytest.raises(error, match=words):
        merged_details(current, command, has_secret)


def test_fields_left_out_keep_their_value_and_the_stored_secret_stays() -> None:
    details, keep_secret = merged_details(registry(), update(description="new"), False)
    assert details["description"] == "new"
    assert (details["url"], details["username"], details["repositories"]) == (
        "https://registry.example.test",
        "ci",
        ["team/app"],
    )
    assert keep_secret


def test_a_new_secret_replaces_the_stored_one_even_on_a_new_host() -> None:
    details, keep_secret = merged_details(
        registry(), update(url="https://elsewhere.example.test"), True
    )
    assert details["url"] == "https://elsewhere.example.test" and not keep_secret


def test_turning_anonymous_drops_the_username_and_keeps_no_secret() -> None:
    details, keep_secret = merged_details(registry(), update(auth="anonymous"), False)
    assert (details["auth"], details["username"], keep_secret) == ("anonymous", None, False)


def test_a_failed_registry_may_be_fixed_by_an_update() -> None:
    details, _ = merged_details(registry(status="failed"), update(description="fixed"), False)
    assert details["description"] == "fixed"
