"""What a command must pass before it applies, by command type.

The gateway runs these so a caller gets 403/404/409/422 at once; the command actor runs
the same functions again, because the state may have moved in between (and services
may publish to the broker directly). Policy therefore cannot drift between the two.
The registry is read locked: the actor's transition then happens on what was checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from events.errors import Conflict, InvalidInput
from events.messages import Command, CrawlRegistry, LinkRegistry, UnlinkRegistry, UpdateRegistry
from events.validation import check_auth, host_port
from store import lifecycle
from store.identity import authorize
from store.jobs import jobs_using
from store.registries import check_name_free, get_active
from store.tables import Project, Registry
from store.uow import UnitOfWork


@dataclass(frozen=True)
class Checked:
    """What passed: the project, the registry the command is about, and for an update
    the details it would make and whether the stored secret stays."""

    project: Project
    registry: Registry | None = None
    details: dict[str, Any] = field(default_factory=dict)
    keep_secret: bool = False
    jobs: list[str] = field(default_factory=list)

    @property
    def target(self) -> Registry:
        assert self.registry is not None, "only a link has no registry yet"
        return self.registry


def check_link(uow: UnitOfWork, command: LinkRegistry, actor: str | None) -> Checked:
    project = authorize(uow.session, command.project, actor, owner=command.OWNER_ONLY)
    check_name_free(uow.session, project, command.name)
    return Checked(project)


def check_update(uow: UnitOfWork, command: UpdateRegistry, actor: str | None) -> Checked:
    project = authorize(uow.session, command.project, actor, owner=command.OWNER_ONLY)
    registry = get_active(uow.session, project, command.name, lock=True)
    details, keep_secret = merged_details(registry, command, command.sealed_secret is not None)
    if details["name"].lower() != registry.active_name:
        check_name_free(uow.session, project, details["name"])
    return Checked(project, registry, details, keep_secret)


def check_unlink(uow: UnitOfWork, command: UnlinkRegistry, actor: str | None) -> Checked:
    """Refused while build jobs use the registry, naming them, unless forced."""
    project = authorize(uow.session, command.project, actor, owner=command.OWNER_ONLY)
    registry = get_active(uow.session, project, command.name, lock=True)
    jobs = jobs_using(uow.session, registry)
    if jobs and not command.force:
        raise Conflict(
            f"registry {registry.name!r} is used by build jobs {', '.join(jobs)}; "
            "unlink with --force to revoke it from them"
        )
    return Checked(project, registry, jobs=jobs)


def check_crawl(uow: UnitOfWork, command: CrawlRegistry, actor: str | None) -> Checked:
    """Members may ask for a fresh catalog; only details in force can be crawled."""
    project = authorize(uow.session, command.project, actor, owner=command.OWNER_ONLY)
    registry = get_active(uow.session, project, command.name, lock=True)
    lifecycle.check(registry, lifecycle.Step.REQUEST_CRAWL)
    return Checked(project, registry)


Precheck = Callable[[UnitOfWork, Any, str | None], Checked]
PRECHECKS: dict[type[Command], Precheck] = {
    LinkRegistry: check_link,
    UpdateRegistry: check_update,
    UnlinkRegistry: check_unlink,
    CrawlRegistry: check_crawl,
}


def precheck(uow: UnitOfWork, command: Command, actor: str | None) -> Checked:
    return PRECHECKS[type(command)](uow, command, actor)


def merged_details(
    registry: Registry, command: UpdateRegistry, has_secret: bool
) -> tuple[dict[str, Any], bool]:
    """The registry's details with the update's changes, and whether the stored secret is
    kept; `Conflict` or `InvalidInput` when the update may not happen. No I/O."""
    if command.expected_version is not None and command.expected_version != registry.version:
        raise Conflict(
            f"registry {registry.name!r} is at version {registry.version}, "
            f"not {command.expected_version}; reload and try again"
        )
    lifecycle.check(registry, lifecycle.update_step(registry))
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
        "name": command.new_name or registry.name,
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
        "ca_pem": registry.ca_pem if command.ca_pem is None else (command.ca_pem or None),
    }
    return details, keep_secret
