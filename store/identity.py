"""Users, API tokens, projects and roles."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlmodel import Session, col, select

from events.errors import Conflict, Forbidden, NotFound
from events.validation import check_name
from store.tables import ApiToken, Member, Project, User

ROLES = ("owner", "member")
TOKEN_PREFIX = "rlk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


def ensure_user(session: Session, name: str) -> tuple[User, str | None]:
    """The user, and a new API token when the user did not exist before (shown once)."""
    check_name(name, "user name")
    user = session.exec(select(User).where(User.name == name)).first()
    if user is not None:
        return user, None
    user = User(id=new_id(), name=name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(user)
    session.flush()  # no ORM relationships, so parents are flushed before children
    session.add(ApiToken(id=new_id(), user_id=user.id, token_hash=hash_token(token)))
    return user, token


def authenticate(session: Session, token: str) -> User | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    return session.get(User, row.user_id) if row else None


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


def role_of(session: Session, project: Project, user_name: str | None) -> str | None:
    if user_name is None:
        return None
    user = session.exec(select(User).where(User.name == user_name)).first()
    if user is None:
        return None
    member = session.get(Member, (project.id, user.id))
    return member.role if member else None


def is_member(session: Session, project_name: str, user_name: str | None) -> bool:
    """Whether the user has a role in the named project (False when it does not exist)."""
    project = session.exec(select(Project).where(Project.name == project_name)).first()
    return project is not None and role_of(session, project, user_name) is not None


def authorize(
    session: Session, project_name: str, user_name: str | None, *, owner: bool
) -> Project:
    """The project, if the user may act on it. Outsiders get 404, not 403: projects are
    isolated, so their existence is not revealed."""
    project = find_project(session, project_name)
    role = role_of(session, project, user_name)
    if role is None:
        raise NotFound(f"project {project_name!r} not found")
    if owner and role != "owner":
        raise Forbidden(f"only owners of {project_name!r} may do this")
    return project


def set_member(session: Session, project: Project, user: User, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    member = session.get(Member, (project.id, user.id))
    if member is None:
        session.add(Member(project_id=project.id, user_id=user.id, role=role))
    else:
        member.role = role
        session.add(member)


def is_operator(session: Session, user_name: str) -> bool:
    """An operator owns at least one project: someone already trusted to change what
    build jobs receive, and no separate admin role to hand out."""
    statement = (
        select(Member.user_id)
        .join(User, col(Member.user_id) == col(User.id))
        .where(User.name == user_name, Member.role == "owner")
        .limit(1)
    )
    return session.exec(statement).first() is not None


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
