"""Registry look-ups: the active registry by name, listings, and the browsable catalog."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from events.errors import Conflict, NotFound
from store.lifecycle import FAILED, USABLE
from store.tables import CatalogRepository, CatalogTag, Project, Registry

VISIBLE_STATUSES = USABLE


def find_active(
    session: Session, project: Project, name: str, *, lock: bool = False
) -> Registry | None:
    """The linked registry of that name (names are unique per project, ignoring case);
    `lock` holds its row until the transaction ends, for a transition."""
    statement = select(Registry).where(
        Registry.project_id == project.id, Registry.active_name == name.lower()
    )
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def get_active(session: Session, project: Project, name: str, *, lock: bool = False) -> Registry:
    registry = find_active(session, project, name, lock=lock)
    if registry is None:
        raise NotFound(f"registry {name!r} not found in project {project.name!r}")
    return registry


def check_name_free(session: Session, project: Project, name: str) -> None:
    """`Conflict` when the name is taken; a failed link keeps its name, so say how to
    fix or remove it."""
    found = find_active(session, project, name)
    if found is None:
        return
    message = f"a registry named {name!r} already exists in project {project.name!r}"
    if found.status == FAILED:
        message += (
            f" (its link failed: {found.reason}); fix it with `reglink update "
            f"{project.name} {found.name} ...` or remove it with `reglink unlink "
            f"{project.name} {found.name}`"
        )
    raise Conflict(message)


def list_registries(session: Session, project: Project, *, include_all: bool) -> list[Registry]:
    """Linked registries: verified ones (still usable when degraded, expiring or after a
    failed update); with `include_all`, pending and failed ones too."""
    statement = select(Registry).where(
        Registry.project_id == project.id, col(Registry.active_name).is_not(None)
    )
    if not include_all:
        statement = statement.where(col(Registry.status).in_(VISIBLE_STATUSES))
    return list(session.exec(statement.order_by(col(Registry.active_name))))


def list_repositories(session: Session, registry: Registry) -> list[CatalogRepository]:
    if registry.catalog_generation is None:
        return []
    statement = (
        select(CatalogRepository)
        .where(
            CatalogRepository.registry_id == registry.id,
            CatalogRepository.generation == registry.catalog_generation,
        )
        .order_by(col(CatalogRepository.name))
    )
    return list(session.exec(statement))


def list_tags(session: Session, registry: Registry, repository: str) -> list[CatalogTag]:
    """Tags of one repository in the current snapshot; an unknown repository is 404."""
    if registry.catalog_generation is not None:
        found = session.exec(
            select(CatalogRepository.id).where(
                CatalogRepository.registry_id == registry.id,
                CatalogRepository.generation == registry.catalog_generation,
                CatalogRepository.name == repository,
            )
        ).first()
        if found is not None:
            statement = (
                select(CatalogTag)
                .where(
                    CatalogTag.registry_id == registry.id,
                    CatalogTag.generation == registry.catalog_generation,
                    CatalogTag.repository == repository,
                )
                .order_by(col(CatalogTag.tag))
            )
            return list(session.exec(statement))
    raise NotFound(f"repository {repository!r} not found in registry {registry.name!r}")


def page_repositories(
    session: Session, registry: Registry, *, contains: str, offset: int, limit: int
) -> tuple[list[CatalogRepository], int]:
    """One page of the current snapshot's repositories whose name contains `contains`, and
    how many match in all. Only the page's rows leave the database (the count and the
    filter run on the lookup index), so a catalog of thousands stays quick to browse."""
    if registry.catalog_generation is None:
        return [], 0
    pattern = "%" + contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = (
        CatalogRepository.registry_id == registry.id,
        CatalogRepository.generation == registry.catalog_generation,
        col(CatalogRepository.name).like(pattern, escape="\\"),
    )
    total = session.exec(select(func.count()).select_from(CatalogRepository).where(*where)).one()
    statement = (
        select(CatalogRepository)
        .where(*where)
        .order_by(col(CatalogRepository.name))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(statement)), int(total)
