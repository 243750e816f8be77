"""What an update would make of a registry, and whether it may: checked at the gateway
(so the caller gets 409/422 at once) and again by the command actor."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from events.errors import Conflict, InvalidInput
from events.messages import UpdateRegistry
from events.validation import check_auth, host_port
from store.registries import check_name_free
from store.tables import Project, Registry


def merged_details(
    session: Session,
    project: Project,
    registry: Registry,
    command: UpdateRegistry,
    has_secret: bool,
) -> tuple[dict[str, Any], bool]:
    """The registry's details with the command's changes, and whether the stored secret
    is kept; `CommandRejected` when the update may not happen."""
    if command.expected_version is not None and command.expected_version != registry.version:
        raise Conflict(
            f"registry {registry.name!r} is at version {registry.version}, "
            f"not {command.expected_version}; reload and try again"
        )
    if registry.status == "pending":
        raise Conflict(f"registry {registry.name!r} is still being verified; try again shortly")
    name = command.new_name or registry.name
    if name.lower() != registry.active_name:
        check_name_free(session, project, name)
    url = command.url or registry.url
    auth = command.auth or registry.auth
    username = command.username if command.username is not None else registry.username
    if auth == "anonymous" and command.username is None:
        username = None
    keep_secret = not has_secret and auth != "anonymous"
    if keep_secret and (host_port(url)[0] != host_port(registry.url)[0] or auth != registry.auth):
        raise InvalidInput(
            "a new host or auth type needs the credentials entered again: "
            "stored credentials are never sent to a host they were not entered for"
        )
    check_auth(auth, username, has_secret or keep_secret, require_secret=True)
    details = {
        "name": name,
        "url": url,
        "description": (
            command.description if command.description is not None else registry.description
        ),
        "auth": auth,
        "username": username,
        "repositories": (
            list(command.repositories)
            if command.repositories is not None
            else list(registry.repositories)
        ),
        "expires_at": command.expires_at or registry.expires_at,
    }
    return details, keep_secret
