"""The body of a webhook delivery, part of the contract with build jobs: a CloudEvents 1.0
document whose `data.config` is a Docker `config.json` that Docker's CLI and
containers/image (podman, buildah, skopeo) use as it is. Signing is in `events.webhooks`.
"""

from __future__ import annotations

import base64
from typing import Any

from events.envelope import utcnow
from events.validation import host_port

# CloudEvent `type` per delivery kind
TYPES = {
    "updated": "reglink.registry.updated",
    "unlinked": "reglink.registry.unlinked",
    "credentials_failing": "reglink.registry.credentials_failing",
    "credentials_expiring": "reglink.registry.credentials_expiring",
}


def docker_config(url: str, auth: str, username: str | None, secret: str | None) -> dict[str, Any]:
    """A Docker `config.json` document a Docker client can use as it is."""
    host, port = host_port(url)
    default = 443 if url.startswith("https://") else 80
    key = host if port == default else f"{host}:{port}"
    if auth == "basic" and secret is not None:
        token = base64.b64encode(f"{username or ''}:{secret}".encode()).decode()
        return {"auths": {key: {"auth": token}}}
    if auth == "oauth2" and secret is not None:
        return {"auths": {key: {"identitytoken": secret}}}
    return {"auths": {}}


def cloud_event(
    delivery_id: str,
    kind: str,
    version: int,
    *,
    project: str,
    registry: str,
    url: str,
    config: dict[str, Any] | None,
) -> dict[str, Any]:
    """The CloudEvent one delivery sends; its id is the delivery's, the same on every try,
    so a receiver can drop duplicates."""
    data: dict[str, Any] = {
        "project": project,
        "registry": registry,
        "version": version,
        "url": url,
    }
    if config is not None:
        data["config"] = config
    return {
        "specversion": "1.0",
        "id": delivery_id,
        "source": f"/projects/{project}/registries/{registry}",
        "type": TYPES[kind],
        "subject": registry,
        "time": utcnow().isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
