"""HTTP routes for a project's registries: the link, update, unlink and crawl commands
(202 + Location of the command), and the reads that browse what a crawl found."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from events.messages import CrawlRegistry, LinkRegistry, UnlinkRegistry, UpdateRegistry
from events.sealing import seal
from gateway import submit as submitting
from gateway.api_errors import BODY, COMMAND, READ, refusals
from gateway.api_models import (
    Accepted,
    RegistryDocument,
    RegistryList,
    RepositoryList,
    TagList,
)
from gateway.api_params import STRICT_QUERY, ProjectPath, RegistryPath
from gateway.api_registry_bodies import LinkBody, UpdateBody, secret_of
from gateway.auth import Caller, User
from gateway.bootstrap import Container
from gateway.documents import registry_document, repository_document, tag_document
from store.identity import authorize
from store.registries import get_active, list_registries, list_repositories, list_tags


def _accepted(response: Response, result: submitting.Accepted) -> Accepted:
    """A command runs later: 202, and where to follow it."""
    response.status_code = 202
    response.headers["Location"] = f"/v1/commands/{result.command_id}"
    return Accepted(command_id=result.command_id, status=result.status)


# the 202 of every command, with the header that says where to follow it
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Queued; follow it at `Location`.",
        "headers": {
            "Location": {
                "description": "`/v1/commands/{command_id}`",
                "schema": {"type": "string"},
            }
        },
    }
}
_COMMAND_RESPONSES = {**_ACCEPTED, **refusals(*COMMAND)}
_COMMAND_WITH_BODY_RESPONSES = {**_ACCEPTED, **refusals(*COMMAND, *BODY)}


def registries_router(container: Container) -> APIRouter:
    router = APIRouter(
        prefix="/v1/projects/{project}/registries", tags=["registries"], dependencies=STRICT_QUERY
    )

    def sealed(secret: str | None, project: str) -> str | None:
        """Sealed to the workers' key here, so the secret never travels in the clear."""
        return seal(secret, container.keys.public, project=project) if secret else None

    @router.post(
        "", status_code=202, operation_id="linkRegistry", responses=_COMMAND_WITH_BODY_RESPONSES
    )
    def link(project: ProjectPath, body: LinkBody, caller: Caller, response: Response) -> Accepted:
        """Link a registry: checked now, verified by a worker; the outcome is the command's."""
        command = LinkRegistry(
            project=project,
            name=body.name,
            url=body.url,
            description=body.description,
            auth=body.auth,
            username=body.username,
            sealed_secret=sealed(secret_of(body), project),
            repositories=tuple(body.repositories),
            expires_at=body.expires_at,
            ca_pem=body.ca_pem,
        )
        return _accepted(response, submitting.submit(container, command, **caller.submit_args()))

    @router.patch(
        "/{name}",
        status_code=202,
        operation_id="updateRegistry",
        responses=_COMMAND_WITH_BODY_RESPONSES,
    )
    def update(
        project: ProjectPath,
        name: RegistryPath,
        body: UpdateBody,
        caller: Caller,
        response: Response,
    ) -> Accepted:
        """New details are verified first; the old ones stay in force until they pass."""
        secret = secret_of(body)
        fields = body.model_dump(exclude={"password", "token"}, exclude_none=True)
        if "repositories" in fields:
            fields["repositories"] = tuple(fields["repositories"])
        command = UpdateRegistry(
            project=project, name=name, sealed_secret=sealed(secret, project), **fields
        )
        return _accepted(response, submitting.submit(container, command, **caller.submit_args()))

    @router.delete(
        "/{name}", status_code=202, operation_id="unlinkRegistry", responses=_COMMAND_RESPONSES
    )
    def unlink(
        project: ProjectPath,
        name: RegistryPath,
        caller: Caller,
        response: Response,
        force: bool = False,
    ) -> Accepted:
        """Refused (409) while build jobs use it, unless `force`: they are told to drop it."""
        command = UnlinkRegistry(project=project, name=name, force=force)
        return _accepted(response, submitting.submit(container, command, **caller.submit_args()))

    @router.get("", operation_id="listRegistries", responses=refusals(*READ))
    def registries(project: ProjectPath, user: User, all: bool = False) -> RegistryList:
        """Verified ones; `all` adds pending and failed ones."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            rows = list_registries(uow.session, found, include_all=all)
            return RegistryList(registries=[registry_document(row) for row in rows])

    @router.get("/{name}", operation_id="showRegistry", responses=refusals(*READ))
    def show(project: ProjectPath, name: RegistryPath, user: User) -> RegistryDocument:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            return registry_document(get_active(uow.session, found, name))

    @router.post(
        "/{name}/crawl",
        status_code=202,
        operation_id="crawlRegistry",
        responses=_COMMAND_RESPONSES,
    )
    def crawl(
        project: ProjectPath, name: RegistryPath, caller: Caller, response: Response
    ) -> Accepted:
        """Refresh the browsable catalog now; members may ask too."""
        command = CrawlRegistry(project=project, name=name)
        return _accepted(response, submitting.submit(container, command, **caller.submit_args()))

    @router.get("/{name}/repositories", operation_id="listRepositories", responses=refusals(*READ))
    def repositories(project: ProjectPath, name: RegistryPath, user: User) -> RepositoryList:
        """What the last crawl found."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            registry = get_active(uow.session, found, name)
            rows = list_repositories(uow.session, registry)
            return RepositoryList(repositories=[repository_document(row) for row in rows])

    @router.get(
        "/{name}/repositories/{repository:path}/tags",
        operation_id="listTags",
        responses=refusals(*READ),
    )
    def tags(project: ProjectPath, name: RegistryPath, repository: str, user: User) -> TagList:
        """A repository's tags from the last crawl, with digests and platforms."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            registry = get_active(uow.session, found, name)
            rows = list_tags(uow.session, registry, repository)
            return TagList(tags=[tag_document(row) for row in rows])

    return router
