"""What each registry command does once its pre-check passed: ask the lifecycle for the
transition. Each returns the id of the registry the command is about.

The pre-checks (`store.prechecks`) ran in the same transaction, with the registry row
locked, so the transition happens on exactly what was checked.
"""

from __future__ import annotations

from collections.abc import Callable

from events.envelope import Envelope
from events.messages import Command, CrawlRegistry, LinkRegistry, UnlinkRegistry, UpdateRegistry
from store import lifecycle
from store.prechecks import Checked
from store.secrets import Sealed
from store.uow import UnitOfWork

# A secret sealed for transit (to the workers' key), re-sealed for rest; the plaintext
# exists only inside this call.
Reseal = Callable[[str | None, str], Sealed | None]
CommandHandler = Callable[[Command, Checked, UnitOfWork, Envelope, Reseal], str]


def link_registry(
    command: LinkRegistry, checked: Checked, uow: UnitOfWork, cause: Envelope, reseal: Reseal
) -> str:
    details = command.model_dump(
        include={"name", "url", "description", "auth", "username", "ca_pem"}
    )
    details.update(repositories=list(command.repositories), expires_at=command.expires_at)
    registry = lifecycle.link(
        uow,
        project_id=checked.project.id,
        project=checked.project.name,
        details=details,
        sealed=reseal(command.sealed_secret, command.project),
        cause=cause,
    )
    return registry.id


def update_registry(
    command: UpdateRegistry, checked: Checked, uow: UnitOfWork, cause: Envelope, reseal: Reseal
) -> str:
    sealed = reseal(command.sealed_secret, command.project)
    changed = command.model_dump(
        exclude_none=True, exclude={"project", "name", "sealed_secret", "expected_version"}
    )
    lifecycle.update(
        uow,
        checked.target,
        project=checked.project.name,
        details=checked.details,
        sealed=sealed,
        keep_secret=checked.keep_secret,
        cause=cause,
        changes=sorted(changed) + (["secret"] if sealed is not None else []),
    )
    return checked.target.id


def unlink_registry(
    command: UnlinkRegistry, checked: Checked, uow: UnitOfWork, cause: Envelope, reseal: Reseal
) -> str:
    lifecycle.unlink(
        uow, checked.target, project=checked.project.name, jobs=checked.jobs, cause=cause
    )
    return checked.target.id


def request_crawl(
    command: CrawlRegistry, checked: Checked, uow: UnitOfWork, cause: Envelope, reseal: Reseal
) -> str:
    lifecycle.request_crawl(uow, checked.target, project=checked.project.name, cause=cause)
    return checked.target.id
