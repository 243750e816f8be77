"""The body of a webhook delivery, as build jobs read it: a CloudEvent whose `data.config`
is a Docker `config.json` that Docker's CLI and containers/image both read."""

from __future__ import annotations

import base64

import pytest

from events.deliveries import DOCKER_HUB_KEY, cloud_event, docker_config


def decoded(entry: dict[str, str]) -> str:
    return base64.b64decode(entry["auth"]).decode()


def test_basic_auth_is_a_docker_auth_entry_keyed_by_host_without_default_port() -> None:
    config = docker_config("https://registry.example.com:443", "basic", "ci-bot", "s3cret")
    assert list(config["auths"]) == ["registry.example.com"]
    entry = config["auths"]["registry.example.com"]
    assert list(entry) == ["auth"] and decoded(entry) == "ci-bot:s3cret"


def test_an_oauth2_entry_has_an_auth_field_beside_the_identity_token() -> None:
    """containers/image ignores an entry without `auth`; Docker's CLI refuses an `auth`
    whose user name is empty."""
    config = docker_config("http://127.0.0.1:5000", "oauth2", None, "refresh-token")
    entry = config["auths"]["127.0.0.1:5000"]
    assert entry["identitytoken"] == "refresh-token"
    assert decoded(entry) == "<token>:"


def test_an_oauth2_entry_names_the_registry_user_when_there_is_one() -> None:
    entry = docker_config("https://r.example", "oauth2", "robot", "rt")["auths"]["r.example"]
    assert decoded(entry) == "robot:" and entry["identitytoken"] == "rt"


@pytest.mark.parametrize(
    "url", ["https://registry-1.docker.io", "https://index.docker.io", "https://docker.io"]
)
def test_docker_hub_is_keyed_the_way_both_readers_look_it_up(url: str) -> None:
    assert list(docker_config(url, "basic", "me", "pw")["auths"]) == [DOCKER_HUB_KEY]


def test_anonymous_or_missing_secret_gives_no_auths() -> None:
    assert docker_config("https://r.example", "anonymous", None, None) == {"auths": {}}
    assert docker_config("https://r.example", "basic", "u", None) == {"auths": {}}


def test_cloud_event_carries_the_delivery_id_type_sequence_and_config() -> None:
    event = cloud_event(
        "d-1",
        "updated",
        project="demo",
        registry="private",
        url="https://r.example",
        version=3,
        sequence=7,
        extra={"config": {"auths": {}}},
    )
    assert event["specversion"] == "1.0" and event["id"] == "d-1"
    assert event["type"] == "reglink.registry.updated"
    assert event["source"] == "/projects/demo/registries/private"
    assert event["data"] == {
        "project": "demo",
        "registry": "private",
        "version": 3,
        "sequence": 7,
        "url": "https://r.example",
        "config": {"auths": {}},
    }


def test_a_failing_credential_says_why_and_when_it_expires() -> None:
    event = cloud_event(
        "d-3",
        "credentials_failing",
        project="demo",
        registry="private",
        url="https://r.example",
        version=2,
        sequence=4,
        extra={
            "reason": "unauthorized",
            "message": "refused",
            "expires_at": "2027-01-01T00:00:00+00:00",
        },
    )
    data = event["data"]
    assert (data["reason"], data["message"]) == ("unauthorized", "refused")
    assert data["expires_at"].startswith("2027-01-01T00:00:00")


def test_a_revocation_carries_no_config() -> None:
    event = cloud_event(
        "d-2",
        "unlinked",
        project="demo",
        registry="private",
        url="https://r.example",
        version=4,
        sequence=9,
        extra={},
    )
    assert event["type"] == "reglink.registry.unlinked" and "config" not in event["data"]
