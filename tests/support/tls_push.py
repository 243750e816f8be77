"""Put test images into a registry served over TLS, as its administrator would."""

from __future__ import annotations

import ssl

import httpx

from tests.support.images import BearerChallenge, push_image
from tests.support.registry import RunningRegistry


def push_over_tls(
    registry: RunningRegistry, ca_pem: str, *images: str, basic: tuple[str, str] | None = None
) -> None:
    """Push each `repo:tag`; a token registry gets tokens minted by its own token server,
    an htpasswd one the `basic` credentials."""
    context = ssl.create_default_context(cadata=ca_pem)
    server = registry.token

    def mint(challenge: BearerChallenge) -> str:
        assert server is not None
        access = []
        for scope in challenge.scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append((kind, name, actions.split(",")))
        return server.issue_token("admin", access)

    with httpx.Client(timeout=10.0, verify=context) as client:
        for image in images:
            repo, _, tag = image.partition(":")
            push_image(registry.url, repo, tag, auth=mint if server else basic, client=client)
