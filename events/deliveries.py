"""The body of a webhook delivery, part of the contract with build jobs: a CloudEvents 1.0
document whose `data.config` is a Docker `config.json` that Docker's CLI and
containers/image (podman, buildah, skopeo) use as it is. Signing is in `events.webhooks`;
the models here are also the source of the published JSON Schemas (`events.asyncapi`).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import utcnow
from events.urls import DOCKER_HUB_HOSTS
from events.validation import host_port

# CloudEvent `type` per delivery kind
TYPES = {
    "updated": "reglink.registry.updated",
    "unlinked": "reglink.registry.unlinked",
    "credentials_failing": "reglink.registry.credentials_failing",
    "credentials_expiring": "reglink.registry.credentials_expiring",
}
# the key both Docker's CLI and containers/image look Docker Hub up by
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
# the user name of an identity-token entry when the registry named none (Docker's
# credential helpers' convention; both readers need a non-empty name before the colon)
DEFAULT_TOKEN_USERNAME = "<token>"


class DockerAuth(BaseModel):
    """One `auths` entry. `auth` is base64(`user:password`); with an `identitytoken` it is
    base64(`user:`) and the token is an OAuth2 refresh token the client trades at the
    registry's token realm (containers/image skips an entry that has no `auth`)."""

    model_config = ConfigDict(extra="forbid")
    auth: str
    identitytoken: str | None = None


class DockerConfig(BaseModel):
    """A Docker `config.json`: empty `auths` for an anonymous registry."""

    model_config = ConfigDict(extra="forbid")
    auths: dict[str, DockerAuth]


class DeliveryData(BaseModel):
    """What every delivery says. `sequence` grows with every delivery about the registry:
    a receiver may drop anything at or below the last `sequence` it handled."""

    model_config = ConfigDict(extra="forbid")
    project: str
    registry: str
    version: int = Field(description="the registry version the delivery is about")
    sequence: int = Field(ge=0, description="per registry, strictly growing, in sending order")
    url: str


class UpdatedData(DeliveryData):
    """The details in force (a new version, or a job that just started using it)."""

    config: DockerConfig
    ca: str | None = Field(
        default=None,
        description="PEM certificates the registry's TLS chains to, when it uses a private "
        "CA: Docker's certs.d/<host>/ca.crt, skopeo's --cert-dir, podman's --cert-dir",
    )


class UnlinkedData(DeliveryData):
    """The registry left the project: drop its credentials."""


class CredentialsFailingData(DeliveryData):
    """The details in force stopped working at a periodic check."""

    reason: str = Field(description="one of the closed set of failure reasons")
    message: str
    expires_at: datetime | None = Field(
        default=None, description="the credentials' known expiry, when one is known"
    )


class CredentialsExpiringData(DeliveryData):
    """The details in force expire soon."""

    expires_at: datetime


DATA_MODELS: dict[str, type[DeliveryData]] = {
    "updated": UpdatedData,
    "unlinked": UnlinkedData,
    "credentials_failing": CredentialsFailingData,
    "credentials_expiring": CredentialsExpiringData,
}


def docker_config(url: str, auth: str, username: str | None, secret: str | None) -> dict[str, Any]:
    """A Docker `config.json` document Docker's CLI and containers/image read alike."""
    host, port = host_port(url)
    default = 443 if url.startswith("https://") else 80
    key = host if port == default else f"{host}:{port}"
    if key in DOCKER_HUB_HOSTS:
        key = DOCKER_HUB_KEY
    if auth == "basic" and secret is not None:
        entry = DockerAuth(auth=_b64(f"{username or ''}:{secret}"))
    elif auth == "oauth2" and secret is not None:
        user = username or DEFAULT_TOKEN_USERNAME
        entry = DockerAuth(auth=_b64(f"{user}:"), identitytoken=secret)
    else:
        return DockerConfig(auths={}).model_dump()
    return DockerConfig(auths={key: entry}).model_dump(exclude_none=True)


def cloud_event(
    delivery_id: str,
    kind: str,
    *,
    project: str,
    registry: str,
    url: str,
    version: int,
    sequence: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The CloudEvent one delivery sends; its id is the delivery's, the same on every try,
    so a receiver can drop duplicates. `extra` holds the kind's own fields."""
    data = DATA_MODELS[kind].model_validate(
        {
            "project": project,
            "registry": registry,
            "version": version,
            "sequence": sequence,
            "url": url,
            **extra,
        }
    )
    return {
        "specversion": "1.0",
        "id": delivery_id,
        "source": f"/projects/{project}/registries/{registry}",
        "type": TYPES[kind],
        "subject": registry,
        "time": utcnow().isoformat(),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json", exclude_none=True),
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
