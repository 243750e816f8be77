"""HTTP routes for projects and members: which projects a caller belongs to, and an
owner taking a member's role away. Creating projects stays with `reglink admin`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.api_errors import WRITE, refusals
from gateway.api_models import ProjectList, ProjectRole
from gateway.api_params import STRICT_QUERY, ProjectPath, UserPath
from gateway.auth import User
from gateway.bootstrap import Container
from store.identity import authorize, list_projects, remove_member


def projects_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/projects", tags=["projects"], dependencies=STRICT_QUERY)

    @router.get("", operation_id="listProjects", responses=refusals(401, 422))
    def listing(user: User) -> ProjectList:
        """The caller's projects and their role in each; others' stay invisible."""
        with container.uow() as uow:
            rows = list_projects(uow.session, user)
        return ProjectList(projects=[ProjectRole(name=name, role=role) for name, role in rows])

    @router.delete(
        "/{project}/members/{member}",
        status_code=204,
        operation_id="removeMember",
        responses=refusals(*WRITE),
    )
    def remove(project: ProjectPath, member: UserPath, user: User) -> Response:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            remove_member(uow.session, found, member)
            uow.audit("member.removed", actor=user, project_id=found.id, target=member)
            uow.commit()
        return Response(status_code=204)

    return router
