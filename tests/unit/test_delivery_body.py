"""The body of a webhook delivery, as build jobs read it: a CloudEvent whose `data.config`
is a Docker `config.json` keyed the way Docker looks registries up."""

from __future__ import annotations

import base64

from events.deliveries import cloud_event, docker_config


def test_basic_auth_is_a_docker_auth_entry_keyed_by_host_without_default_port() -> None:
    config = docker_config("https://registry.example.com:443", "basic", "ci-bot", "s3cret")
    auth = config["auths"]["registry.example.com"]["auth"]
    assert base64.b64decode(auth).decode() == "ci-bot:s3cret"


def test_a_non_default_port_stays_in_the_key() -> None:
    config = docker_config("http://127.0.0.1:5000", "oauth2", None, "refresh-token")
    assert config == {"auths": {"127.0.0.1:5000": {"identitytoken": "refresh-token"}}}


def test_anonymous_or_missing_secret_gives_no_auths() -> None:
    assert docker_config("https://r.example", "anonymous", None, None) == {"auths": {}}
    assert docker_config("https://r.example", "basic", "u", None) == {"auths": {}}


def test_cloud_event_carries_the_delivery_id_type_and_config() -> None:
    event = cloud_event(
        "d-1",
        "updated",
        3,
        project="demo",
        registry="private",
        url="https://r.example",
        config={"auths": {}},
    )
    assert event["specversion"] == "1.0" and event["id"] == "d-1"
    assert event["type"] == "reglink.registry.updated"
    assert event["source"] == "/projects/demo/registries/private"
    assert event["data"] == {
        "project": "demo",
        "registry": "private",
        "version": 3,
        "url": "https://r.example",
        "config": {"auths": {}},
    }


def test_a_revocation_carries_no_config() -> None:
    event = cloud_event(
        "d-2",
        "unlinked",
        4,
        project="demo",
        registry="private",
        url="https://r.example",
        config=None,
    )
    assert event["type"] == "reglink.registry.unlinked" and "config" not in event["data"]
