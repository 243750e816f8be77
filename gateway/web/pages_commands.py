"""Following a command: its page, and the JSON the page's script polls (the same
command document as `GET /v1/commands/{id}`, plus the steps, read with the session
cookie instead of a bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from events.errors import NotFound
from gateway.bootstrap import Container
from gateway.documents import command_document
from gateway.web.forms import RegistryForm
from gateway.web.progress import progress
from gateway.web.viewer import ConsoleRoute, SignedIn, open_project, render
from store.tables import CommandRecord, Registry
from store.uow import UnitOfWork


def _followed(
    uow: UnitOfWork, project: str, command_id: str
) -> tuple[dict[str, Any], Registry | None]:
    """The command document with its steps and the registry as it is now; the row too."""
    record = uow.session.get(CommandRecord, command_id)
    if record is None or record.project != project:
        raise NotFound(f"command {command_id!r} not found in project {project!r}")
    registry = uow.session.get(Registry, record.registry_id) if record.registry_id else None
    document = command_document(record, registry).model_dump()
    document["progress"] = progress(record, registry).document()
    return document, registry


def commands_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/projects/{project}/commands", route_class=ConsoleRoute)

    @router.get("/{command_id}")
    def follow(request: Request, project: str, command_id: str, viewer: SignedIn) -> Response:
        with container.uow() as uow:
            _found, owner = open_project(uow, project, viewer)
            document, row = _followed(uow, project, command_id)
            fix = None
            if owner and row is not None and row.status == "failed":
                fix = RegistryForm.of(row)  # the failed link, to correct where it failed
                fix.failed(row.reason, row.message)
        registry = document["registry"]
        kind = document["type"].rsplit(".", 1)[-1]
        return render(
            request,
            "command.html",
            f"{kind.capitalize()} {registry['name'] if registry else ''} · {project}".strip(),
            project=project,
            command=document,
            registry=registry,
            form=fix,
            owner=owner,
        )

    @router.get("/{command_id}/progress")
    def follow_json(project: str, command_id: str, viewer: SignedIn) -> Response:
        with container.uow() as uow:
            open_project(uow, project, viewer)
            return JSONResponse(_followed(uow, project, command_id)[0])

    return router
