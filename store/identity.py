"""Users, API tokens, projects and roles, and the operator role that is none of them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from events.envelope import new_id
from events.errors import Conflict, Forbidden, InvalidInput, NotFound
from events.validation import check_name
from store.tables import ApiToken, Member, Project, User, utcnow

ROLES = ("owner", "member")
TOKEN_PREFIX = "rlk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_user(
    session: Session, name: str, *, expires_at: datetime | None = None
) -> tuple[User, str | None]:
    """The user, and a new API token when the user did not exist before (shown once)."""
    check_name(name, "user name")
    user = session.exec(select(User).where(User.name == name)).first()
    if user is not None:
        return user, None
    user = User(id=new_id(), name=name)
    session.add(user)
    session.flush()  # no ORM relationships, so parents are flushed before children
    return user, issue_token(session, user, expires_at=expires_at)


def project_name(session: Session, project_id: str) -> str:
    """The name of a project a row belongs to (a foreign key: it exists)."""
    project = session.get(Project, project_id)
    assert project is not None, "rows always belong to a project"
    return project.name


def find_user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def issue_token(session: Session, user: User, *, expires_at: datetime | None = None) -> str:
    """A new API token for the user (another one: a user may hold several, e.g. one per
    machine, each revocable alone). Only its hash is kept; the token is shown once."""
    if expires_at is not None and expires_at.utcoffset() is None:
        raise InvalidInput("a token's expiry needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("a token's expiry must be in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(id=new_id(), user_id=user.id, token_hash=hash_token(token), expires_at=expires_at)
    )
    return token


def authenticate(session: Session, token: str) -> User | None:
    """The token's user while the token is neither revoked nor expired: checked on every
    request (one statement), so a revocation takes effect at once."""
    row = session.exec(
        select(User, ApiToken.revoked_at, ApiToken.expires_at)
        .join(ApiToken, col(ApiToken.user_id) == col(User.id))
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    user, revoked_at, expires_at = row
    return user if _still_good(revoked_at, expires_at) else None


def _still_good(revoked_at: datetime | None, expires_at: datetime | None) -> bool:
    return revoked_at is None and (expires_at is None or expires_at > utcnow())


def _user_of(session: Session, row: ApiToken | None) -> User | None:
    """The user of a token that is still good: neither revoked nor expired."""
    if row is None or not _still_good(row.revoked_at, row.expires_at):
        return None
    return session.get(User, row.user_id)


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token by its id (revoking twice keeps the first time)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id!r} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def list_tokens(session: Session) -> list[tuple[ApiToken, str]]:
    """Every token with its user's name, oldest first; never the token itself (only its
    hash is kept)."""
    statement = (
        select(ApiToken, User.name)
        .join(User, col(ApiToken.user_id) == col(User.id))
        .order_by(col(ApiToken.created_at), col(ApiToken.id))
    )
    return [(token, name) for token, name in session.exec(statement)]


def add_project(session: Session, name: str) -> Project:
    """A new project; `Conflict` when the name is taken."""
    if session.exec(select(Project).where(Project.name == name)).first():
        raise Conflict(f"project {name!r} already exists")
    project = Project(id=new_id(), name=name)
    session.add(project)
    return project


def find_project(session: Session, name: str) -> Project:
    project = session.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        raise NotFound(f"project {name!r} not found")
    return project


def role_in(
    session: Session, project_name: str, user_name: str | None
) -> tuple[Project, str] | None:
    """The project and the user's role in it, in one statement (every request and every
    command asks); None when the project does not exist or the user has no role there."""
    member = (
        select(Member.project_id, Member.role)
        .join(User, col(User.id) == col(Member.user_id))
        .where(User.name == user_name)
        .subquery()
    )
    found = session.exec(
        select(Project, member.c.role)
        .join(member, member.c.project_id == col(Project.id))
        .where(Project.name == project_name)
    ).first()
    return None if found is None else (found[0], found[1])


def is_member(session: Session, project_name: str, user_name: str | None) -> bool:
    """Whether the user has a role in the named project (False when it does not exist)."""
    return role_in(session, project_name, user_name) is not None


def authorize(
    session: Session, project_name: str, user_name: str | None, *, owner: bool
) -> Project:
    """The project, if the user may act on it (`authorized_role`)."""
    return authorized_role(session, project_name, user_name, owner=owner)[0]


def authorized_role(
    session: Session, project_name: str, user_name: str | None, *, owner: bool
) -> tuple[Project, str]:
    """The project and the user's role, if the user may act on it. Outsiders get 404, not
    403: projects are isolated, so their existence is not revealed."""
    found = role_in(session, project_name, user_name)
    if found is None:
        raise NotFound(f"project {project_name!r} not found")
    if owner and found[1] != "owner":
        raise Forbidden(f"only owners of {project_name!r} may do this")
    return found


def set_member(session: Session, project: Project, user: User, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    member = session.get(Member, (project.id, user.id))
    if member is None:
        session.add(Member(project_id=project.id, user_id=user.id, role=role))
    else:
        member.role = role
        session.add(member)


def set_operator(session: Session, user: User, operator: bool) -> None:
    user.operator = operator
    session.add(user)


def is_operator(session: Session, user_name: str) -> bool:
    """Operators see and act on the broker, which every project shares. It is a role of its
    own, granted with `reglink admin`: owning a project gives no view of other projects."""
    user = session.exec(select(User).where(User.name == user_name)).first()
    return user is not None and user.operator


def find_token(session: Session, token: str) -> ApiToken | None:
    """The API token row for a presented token; the console keeps its id, not the token."""
    return session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()


def token_user(session: Session, token_id: str) -> User | None:
    """The user of a token that is still good (None once it is revoked or expired), so
    revoking a token signs its browser sessions out too."""
    return _user_of(session, session.get(ApiToken, token_id))


def memberships(session: Session, user_name: str) -> list[tuple[str, str]]:
    """(project name, role) of every project the user belongs to, by name."""
    statement = (
        select(Project.name, Member.role)
        .join(Member, col(Member.project_id) == col(Project.id))
        .join(User, col(User.id) == col(Member.user_id))
        .where(User.name == user_name)
        .order_by(col(Project.name))
    )
    return [(name, role) for name, role in session.exec(statement)]


def remove_member(session: Session, project: Project, user_name: str) -> None:
    """Take the user's role in the project away; the last owner stays (someone must be
    able to change the project), and their API token keeps working elsewhere."""
    user = session.exec(select(User).where(User.name == user_name)).first()
    member = session.get(Member, (project.id, user.id)) if user else None
    if user is None or member is None:
        raise NotFound(f"{user_name!r} is not a member of project {project.name!r}")
    if member.role == "owner":
        owners = session.exec(
            select(Member).where(Member.project_id == project.id, Member.role == "owner")
        ).all()
        if len(owners) == 1:
            raise Conflict(f"{user_name!r} is the last owner of project {project.name!r}")
    session.delete(member)


def list_projects(session: Session, user_name: str | None = None) -> list[tuple[str, str | None]]:
    """Projects by name with the user's role in each (only theirs), or all of them with no
    role when `user_name` is None (the operator's view from `reglink admin`)."""
    if user_name is None:
        names = session.exec(select(Project.name).order_by(col(Project.name)))
        return [(name, None) for name in names]
    rows = session.exec(
        select(Project.name, Member.role)
        .join(Member, col(Member.project_id) == col(Project.id))
        .join(User, col(User.id) == col(Member.user_id))
        .where(User.name == user_name)
        .order_by(col(Project.name))
    )
    return [(name, role) for name, role in rows]
