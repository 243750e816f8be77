"""Administration on the store directly: the bootstrap path for the first owner."""

from __future__ import annotations

from typing import Any

from events.errors import InvalidInput
from events.validation import check_name
from gateway.bootstrap import bootstrap_store
from gateway.settings import Settings
from store.identity import ROLES, add_project, ensure_user, find_project, set_member
from store.identity import list_projects as all_projects
from store.identity import remove_member as take_away


def create_project(settings: Settings, project: str, owner: str) -> dict[str, Any]:
    check_name(project, "project")
    store = bootstrap_store(settings)
    with store.uow() as uow:
        row = add_project(uow.session, project)
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


def remove_member(settings: Settings, project: str, user_name: str) -> dict[str, Any]:
    store = bootstrap_store(settings)
    with store.uow() as uow:
        row = find_project(uow.session, project)
        take_away(uow.session, row, user_name)
        uow.audit("member.removed", actor=None, project_id=row.id, target=user_name)
        uow.commit()
    return {"project": project, "user": user_name, "removed": True}


def list_projects(settings: Settings) -> dict[str, Any]:
    store = bootstrap_store(settings)
    with store.uow() as uow:
        return {"projects": [{"name": name} for name, _ in all_projects(uow.session)]}
