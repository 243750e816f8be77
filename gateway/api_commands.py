"""`GET /v1/commands/{id}`: where a publisher follows a command to its outcome. Its
status is terminal (`succeeded`, `failed`) only once the command's effect is settled, so
this one document is all a caller needs to wait on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from events.errors import NotFound
from gateway.auth import User
from gateway.bootstrap import Container
from gateway.documents import command_document, registry_document
from store.identity import is_member
from store.tables import CommandRecord, Registry


def commands_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/commands")

    @router.get("/{command_id}")
    def command(command_id: str, user: User) -> dict[str, Any]:
        """Visible to whoever sent it and to members of its project; the registry it
        concerns is shown as it is now (null once that row is gone)."""
        with container.uow() as uow:
            record = uow.session.get(CommandRecord, command_id)
            if record is None or not (
                record.actor == user or is_member(uow.session, record.project, user)
            ):
                raise NotFound(f"command {command_id!r} not found")
            document = command_document(record)
            if record.registry_id:
                registry = uow.session.get(Registry, record.registry_id)
                document["registry"] = registry_document(registry) if registry else None
            return document

    return router
