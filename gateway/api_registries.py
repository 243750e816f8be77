"""HTTP routes for a project's registries: the link, update, unlink and crawl commands
(202 + Location of the command), and the reads that browse what a crawl found."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from events.errors import InvalidInput
from events.messages import CrawlRegistry, LinkRegistry, UnlinkRegistry, UpdateRegistry
from events.sealing import seal
from gateway.auth import Caller, User
from gateway.bootstrap import Container
from gateway.documents import registry_document, repository_document, tag_document
from gateway.submit import Accepted, submit
from store.identity import authorize
from store.registries import get_active, list_registries, list_repositories, list_tags


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    url: str
    description: str = ""
    auth: Literal["anonymous", "basic", "oauth2"] = "anonymous"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    repositories: list[str] = Field(default_factory=list, max_length=1000)
    expires_at: datetime | None = None
    ca_pem: str | None = Field(
        default=None, description="PEM certificates of the registry's private CA"
    )


class UpdateBody(BaseModel):
    """Fields left out keep their value; the secret is write-only."""

    model_config = ConfigDict(extra="forbid")
    new_name: str | None = None
    url: str | None = None
    description: str | None = None
    auth: Literal["anonymous", "basic", "oauth2"] | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    repositories: list[str] | None = Field(default=None, max_length=1000)
    expires_at: datetime | None = None
    ca_pem: str | None = Field(
        default=None, description='PEM certificates of a private CA; "" drops the CA'
    )
    expected_version: int | None = None


def _secret(body: LinkBody | UpdateBody) -> str | None:
    """The one secret the auth type takes; the wrong kind is refused, not ignored."""
    if body.password is not None and body.token is not None:
        raise InvalidInput("give a password or a token, not both")
    if body.auth == "basic" and body.token is not None:
        raise InvalidInput("basic auth takes a password, not a token")
    if body.auth == "oauth2" and body.password is not None:
        raise InvalidInput("oauth2 auth takes a token, not a password")
    chosen = body.password or body.token
    return chosen.get_secret_value() if chosen is not None else None


def _accepted(response: Response, result: Accepted) -> dict[str, Any]:
    """A command runs later: 202, and where to follow it."""
    response.status_code = 202
    response.headers["Location"] = f"/v1/commands/{result.command_id}"
    return {"command_id": result.command_id, "status": result.status}


def registries_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/projects/{project}/registries")

    def sealed(secret: str | None, project: str) -> str | None:
        """Sealed to the workers' key here, so the secret never travels in the clear."""
        return seal(secret, container.keys.public, project=project) if secret else None

    @router.post("", status_code=202)
    def link(project: str, body: LinkBody, caller: Caller, response: Response) -> dict[str, Any]:
        command = LinkRegistry(
            project=project,
            name=body.name,
            url=body.url,
            description=body.description,
            auth=body.auth,
            username=body.username,
            sealed_secret=sealed(_secret(body), project),
            repositories=tuple(body.repositories),
            expires_at=body.expires_at,
            ca_pem=body.ca_pem,
        )
        return _accepted(response, submit(container, command, **caller.submit_args()))

    @router.patch("/{name}", status_code=202)
    def update(
        project: str, name: str, body: UpdateBody, caller: Caller, response: Response
    ) -> dict[str, Any]:
        secret = _secret(body)
        fields = body.model_dump(exclude={"password", "token"}, exclude_none=True)
        if "repositories" in fields:
            fields["repositories"] = tuple(fields["repositories"])
        command = UpdateRegistry(
            project=project, name=name, sealed_secret=sealed(secret, project), **fields
        )
        return _accepted(response, submit(container, command, **caller.submit_args()))

    @router.delete("/{name}", status_code=202)
    def unlink(
        project: str, name: str, caller: Caller, response: Response, force: bool = False
    ) -> dict[str, Any]:
        command = UnlinkRegistry(project=project, name=name, force=force)
        return _accepted(response, submit(container, command, **caller.submit_args()))

    @router.get("")
    def registries(project: str, user: User, all: bool = False) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            rows = list_registries(uow.session, found, include_all=all)
            return {"registries": [registry_document(row) for row in rows]}

    @router.get("/{name}")
    def show(project: str, name: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            return registry_document(get_active(uow.session, found, name))

    @router.post("/{name}/crawl", status_code=202)
    def crawl(project: str, name: str, caller: Caller, response: Response) -> dict[str, Any]:
        command = CrawlRegistry(project=project, name=name)
        return _accepted(response, submit(container, command, **caller.submit_args()))

    @router.get("/{name}/repositories")
    def repositories(project: str, name: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            registry = get_active(uow.session, found, name)
            rows = list_repositories(uow.session, registry)
            return {"repositories": [repository_document(row) for row in rows]}

    @router.get("/{name}/repositories/{repository:path}/tags")
    def tags(project: str, name: str, repository: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            registry = get_active(uow.session, found, name)
            rows = list_tags(uow.session, registry, repository)
            return {"tags": [tag_document(row) for row in rows]}

    return router
