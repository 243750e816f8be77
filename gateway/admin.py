"""Administration on the store directly: the bootstrap path for the first owner, the
operator role, and API tokens (issue, list, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from events.errors import InvalidInput
from events.validation import check_name
from gateway.bootstrap import bootstrap_store
from gateway.settings import Settings
from store.identity import (
    ROLES,
    add_project,
    ensure_user,
    find_project,
    find_user,
    set_member,
)
from store.identity import issue_token as new_token
from store.identity import list_projects as all_projects
from store.identity import list_tokens as tokens
from store.identity import remove_member as take_away
from store.identity import revoke_token as revoke
from store.identity import set_operator as set_operator_role


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


def set_operator(settings: Settings, user_name: str, operator: bool) -> dict[str, Any]:
    """Grant or revoke the operator role (`reglink ops`, `/v1/ops/*`); the user must exist."""
    store = bootstrap_store(settings)
    with store.uow() as uow:
        user = find_user(uow.session, user_name)
        set_operator_role(uow.session, user, operator)
        action = "operator.granted" if operator else "operator.revoked"
        uow.audit(action, actor=None, project_id=None, target=user_name)
        uow.commit()
    return {"user": user_name, "operator": operator}


def issue_token(
    settings: Settings, user_name: str, expires_at: datetime | None = None
) -> dict[str, Any]:
    """Another API token for an existing user, optionally expiring; shown once."""
    store = bootstrap_store(settings)
    with store.uow() as uow:
        user = find_user(uow.session, user_name)
        token = new_token(uow.session, user, expires_at=expires_at)
        uow.audit("token.issued", actor=None, project_id=None, target=user_name)
        uow.commit()
    return {"user": user_name, "token": token, "expires_at": _iso(expires_at)}


def revoke_token(settings: Settings, token_id: str) -> dict[str, Any]:
    """Revoke a token by its id: the next request that carries it gets 401."""
    store = bootstrap_store(settings)
    with store.uow() as uow:
        row = revoke(uow.session, token_id)
        uow.audit("token.revoked", actor=None, project_id=None, target=token_id)
        uow.commit()
        return {"id": token_id, "revoked_at": _iso(row.revoked_at)}


def list_tokens(settings: Settings) -> dict[str, Any]:
    """Every token's id, user and dates; the tokens themselves are not kept anywhere."""
    store = bootstrap_store(settings)
    with store.uow() as uow:
        return {
            "tokens": [
                {
                    "id": row.id,
                    "user": user,
                    "created_at": _iso(row.created_at),
                    "expires_at": _iso(row.expires_at),
                    "revoked_at": _iso(row.revoked_at),
                }
                for row, user in tokens(uow.session)
            ]
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
