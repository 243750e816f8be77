"""`GET /v1/commands/{id}`: where a publisher follows a command to its outcome. Its
status is terminal (`succeeded`, `failed`) only once the command's effect is settled, so
this one document is all a caller needs to wait on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from events.errors import NotFound
from gateway.api_errors import refusals
from gateway.api_models import CommandDocument
from gateway.api_params import STRICT_QUERY
from gateway.auth import User
from gateway.bootstrap import Container
from gateway.documents import command_document
from store.identity import is_member
from store.tables import CommandRecord, Registry


def commands_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/commands", tags=["commands"], dependencies=STRICT_QUERY)

    @router.get("/{command_id}", operation_id="showCommand", responses=refusals(401, 404, 422))
    def command(
        command_id: Annotated[str, Path(min_length=1, max_length=100)], user: User
    ) -> CommandDocument:
        """Visible to whoever sent it and to members of its project; the registry it
        concerns is shown as it is now (null once that row is gone). 404 until the
        command is recorded."""
        with container.uow() as uow:
            record = uow.session.get(CommandRecord, command_id)
            if record is None or not (
                record.actor == user or is_member(uow.session, record.project, user)
            ):
                raise NotFound(f"command {command_id!r} not found")
            registry = uow.session.get(Registry, record.registry_id) if record.registry_id else None
            return command_document(record, registry)

    return router
