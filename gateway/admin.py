"""Administration on the store directly: the bootstrap path for the first owner."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import select

from events.errors import Conflict, InvalidInput
from events.validation import check_name
from gateway.bootstrap import bootstrap_store
from gateway.settings import Settings
from store.identity import ROLES, ensure_user, find_project, set_member
from store.tables import Project


def create_project(settings: Settings, project: str, owner: str) -> dict[str, Any]:
    check_name(project, "project")
    store = bootstrap_store(settings)
    with store.uow() as uow:
        if uow.session.exec(select(Project).where(Project.name == project)).first():
            raise Conflict(f"project {project!r} already exists")
        row = Project(id=str(uuid.uuid4()), name=project)
        uow.session.add(row)
        user, token = ensure_user(uow.session, owner)
        uow.session.flush()
        set_member(uow.session, row, user, "owner")
        uow.audit("project.created", actor=owner, project_id=row.id, target=project)
        uow.commit()
    return {"project": project, "owner": owner, "token": token}


def add_member(settings: Settings, project: str, user_name: str, role: str) -> dict[str, Any]:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    store = bootstrap_store(settings)
    with store.uow() as uow:
        row = find_project(uow.session, project)
        user, token = ensure_user(uow.session, user_name)
        uow.session.flush()
        set_member(uow.session, row, user, role)
        uow.audit("member.set", actor=None, project_id=row.id, target=user_name, role=role)
        uow.commit()
    return {"project": project, "user": user_name, "role": role, "token": token}
