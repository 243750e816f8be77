"""HTTP routes for projects and members: which projects a caller belongs to, and an
owner taking a member's role away. Creating projects stays with `reglink admin`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from gateway.auth import User
from gateway.bootstrap import Container
from store.identity import authorize, list_projects, remove_member


def projects_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/projects")

    @router.get("")
    def listing(user: User) -> dict[str, Any]:
        """The caller's projects and their role in each; others' stay invisible."""
        with container.uow() as uow:
            rows = list_projects(uow.session, user)
        return {"projects": [{"name": name, "role": role} for name, role in rows]}

    @router.delete("/{project}/members/{member}", status_code=204)
    def remove(project: str, member: str, user: User) -> Response:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            remove_member(uow.session, found, member)
            uow.audit("member.removed", actor=user, project_id=found.id, target=member)
            uow.commit()
        return Response(status_code=204)

    return router
