"""The HTTP API under /v1: Bearer tokens, 202 + Location for commands, documents for reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlmodel import Session, select

from events.errors import CommandRejected, InvalidInput, NotFound
from events.messages import CrawlRegistry, LinkRegistry, UnlinkRegistry, UpdateRegistry
from events.sealing import public_key_text, seal
from gateway.api_health import health_router
from gateway.api_jobs import jobs_router
from gateway.api_ops import ops_router
from gateway.auth import Caller, User
from gateway.bootstrap import Container
from gateway.documents import (
    command_document,
    registry_document,
    repository_document,
    tag_document,
)
from gateway.submit import Accepted, submit
from store.identity import authorize, role_of
from store.registries import get_active, list_registries, list_repositories, list_tags
from store.tables import CommandRecord, Project, Registry

_bearer = HTTPBearer(auto_error=False)


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


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="reglink", version="0.1.0", docs_url="/docs", openapi_url="/openapi.json")
    app.state.container = container

    @app.exception_handler(CommandRejected)
    async def _rejected(_request: Request, exc: CommandRejected) -> JSONResponse:
        return JSONResponse(
            status_code=exc.http_status,
            content={"error": {"code": exc.code, "message": exc.message}},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: it may hold a password.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        return JSONResponse(
            status_code=422, content={"error": {"code": InvalidInput.code, "message": problems}}
        )

    def accepted(response: Response, result: Accepted) -> dict[str, Any]:
        response.status_code = 202
        response.headers["Location"] = f"/v1/commands/{result.command_id}"
        return {"command_id": result.command_id, "status": result.status}

    @app.get("/v1/keys/sealing")
    def sealing_key() -> dict[str, str]:
        """The workers' public key, for services that publish commands to the broker."""
        return {
            "algorithm": "HPKE-X25519-HKDF-SHA256-ChaCha20Poly1305",
            "public_key": public_key_text(container.keys.public),
        }

    @app.post("/v1/projects/{project}/registries", status_code=202)
    def link(
        project: str,
        body: LinkBody,
        caller: Caller,
        response: Response,
    ) -> dict[str, Any]:
        secret = _secret(body)
        command = LinkRegistry(
            project=project,
            name=body.name,
            url=body.url,
            description=body.description,
            auth=body.auth,
            username=body.username,
            sealed_secret=seal(secret, container.keys.public, project=project) if secret else None,
            repositories=tuple(body.repositories),
            expires_at=body.expires_at,
        )
        return accepted(response, submit(container, command, **caller.submit_args()))

    @app.patch("/v1/projects/{project}/registries/{name}", status_code=202)
    def update(
        project: str,
        name: str,
        body: UpdateBody,
        caller: Caller,
        response: Response,
    ) -> dict[str, Any]:
        secret = _secret(body)
        fields = body.model_dump(exclude={"password", "token"}, exclude_none=True)
        if "repositories" in fields:
            fields["repositories"] = tuple(fields["repositories"])
        command = UpdateRegistry(
            project=project,
            name=name,
            sealed_secret=seal(secret, container.keys.public, project=project) if secret else None,
            **fields,
        )
        return accepted(response, submit(container, command, **caller.submit_args()))

    @app.delete("/v1/projects/{project}/registries/{name}", status_code=202)
    def unlink(
        project: str,
        name: str,
        caller: Caller,
        response: Response,
        force: bool = False,
    ) -> dict[str, Any]:
        command = UnlinkRegistry(project=project, name=name, force=force)
        return accepted(response, submit(container, command, **caller.submit_args()))

    @app.get("/v1/projects/{project}/registries")
    def registries(project: str, user: User, all: bool = False) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            rows = list_registries(uow.session, found, include_all=all)
            return {"registries": [registry_document(row) for row in rows]}

    @app.get("/v1/projects/{project}/registries/{name}")
    def show(project: str, name: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            return registry_document(get_active(uow.session, found, name))

    @app.post("/v1/projects/{project}/registries/{name}/crawl", status_code=202)
    def crawl(
        project: str,
        name: str,
        caller: Caller,
        response: Response,
    ) -> dict[str, Any]:
        return accepted(
            response,
            submit(container, CrawlRegistry(project=project, name=name), **caller.submit_args()),
        )

    @app.get("/v1/projects/{project}/registries/{name}/repositories")
    def repositories(project: str, name: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            registry = get_active(uow.session, found, name)
            rows = list_repositories(uow.session, registry)
            return {"repositories": [repository_document(row) for row in rows]}

    @app.get("/v1/projects/{project}/registries/{name}/repositories/{repository:path}/tags")
    def tags(project: str, name: str, repository: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            registry = get_active(uow.session, found, name)
            rows = list_tags(uow.session, registry, repository)
            return {"tags": [tag_document(row) for row in rows]}

    @app.get("/v1/commands/{command_id}")
    def command(command_id: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            record = uow.session.get(CommandRecord, command_id)
            if record is None or not _may_see(uow.session, record, user):
                raise NotFound(f"command {command_id!r} not found")
            document = command_document(record)
            if record.registry_id and record.status == "succeeded":
                registry = uow.session.get(Registry, record.registry_id)
                document["registry"] = registry_document(registry) if registry else None
            return document

    app.include_router(jobs_router(container))
    app.include_router(ops_router(container))
    app.include_router(health_router(container))
    return app


def _may_see(session: Session, record: CommandRecord, user: str) -> bool:
    if record.actor == user:
        return True
    project = session.exec(select(Project).where(Project.name == record.project)).first()
    return project is not None and role_of(session, project, user) is not None
