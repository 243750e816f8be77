"""Which project a broker message belongs to, so a project's owners can be shown their own
dead letters and nobody else's. Commands and registry events name their project in
`data.project`; a webhook delivery names only its delivery, whose job names the project."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from store.tables import BuildJob, Delivery, Project


def message_project(session: Session, envelope: dict[str, Any]) -> str | None:
    """The project's name, or None when the message names none we know (such a message is
    an operator's business only)."""
    data = envelope.get("data")
    if not isinstance(data, dict):
        return None
    project = data.get("project")
    if isinstance(project, str):
        return project
    delivery_id = data.get("delivery_id")
    if not isinstance(delivery_id, str):
        return None
    statement = (
        select(Project.name)
        .join(BuildJob, col(BuildJob.project_id) == col(Project.id))
        .join(Delivery, col(Delivery.job_id) == col(BuildJob.id))
        .where(Delivery.id == delivery_id)
    )
    return session.exec(statement).first()
