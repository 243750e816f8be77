"""Browsing: a project's Docker registries, one registry's repositories (filtered and
paged in the database), and one repository's tags with their pull references."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from gateway.bootstrap import Container
from gateway.documents import registry_document, repository_document, tag_document
from gateway.web.viewer import ConsoleRoute, SignedIn, open_project, redirect, render
from store.jobs import jobs_using
from store.lifecycle import USABLE
from store.registries import get_active, list_registries, list_tags, page_repositories

DEFAULT_PAGE_SIZE = 50  # repositories per page of a registry's page
DEFAULT_MAX_FILTER = 200  # characters of a repository filter; longer ones are cut


def pull_host(url: str) -> str:
    """The host part of a pull reference (`host[:port]`), as docker and podman write it."""
    return urlsplit(url).netloc


def registries_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/projects/{project}", route_class=ConsoleRoute)

    @router.get("")
    def project_home(project: str, viewer: SignedIn) -> Response:
        return redirect(f"/projects/{project}/registries")

    @router.get("/registries")
    def registries(request: Request, project: str, viewer: SignedIn) -> Response:
        with container.uow() as uow:
            found, owner = open_project(uow, project, viewer)
            rows = [
                (registry_document(row).model_dump(), jobs_using(uow.session, row))
                for row in list_registries(uow.session, found, include_all=True)
            ]
        return render(
            request,
            "registries.html",
            f"Docker Registries · {project}",
            project=project,
            owner=owner,
            linked=[(doc, jobs) for doc, jobs in rows if doc["status"] in USABLE],
            unsettled=[(doc, jobs) for doc, jobs in rows if doc["status"] not in USABLE],
        )

    @router.get("/registries/{name}")
    def registry(
        request: Request, project: str, name: str, viewer: SignedIn, q: str = "", page: int = 1
    ) -> Response:
        q = q.strip()[:DEFAULT_MAX_FILTER]
        page = max(page, 1)
        with container.uow() as uow:
            found, owner = open_project(uow, project, viewer)
            row = get_active(uow.session, found, name)
            repos, total = page_repositories(
                uow.session,
                row,
                contains=q,
                offset=(page - 1) * DEFAULT_PAGE_SIZE,
                limit=DEFAULT_PAGE_SIZE,
            )
            document = registry_document(row).model_dump()
            jobs = jobs_using(uow.session, row)
        pages = max((total + DEFAULT_PAGE_SIZE - 1) // DEFAULT_PAGE_SIZE, 1)
        return render(
            request,
            "registry.html",
            f"{document['name']} · {project}",
            project=project,
            owner=owner,
            registry=document,
            usable=document["status"] in USABLE,
            jobs=jobs,
            repositories=[repository_document(r).model_dump() for r in repos],
            total=total,
            q=q,
            page=page,
            pages=pages,
        )

    @router.get("/registries/{name}/repositories/{repository:path}")
    def repository(
        request: Request, project: str, name: str, repository: str, viewer: SignedIn
    ) -> Response:
        with container.uow() as uow:
            found, _owner = open_project(uow, project, viewer)
            row = get_active(uow.session, found, name)
            tags = [tag_document(t).model_dump() for t in list_tags(uow.session, row, repository)]
            document = registry_document(row).model_dump()
        return render(
            request,
            "repository.html",
            f"{repository} · {document['name']}",
            project=project,
            registry=document,
            repository=repository,
            host=pull_host(document["url"]),
            tags=tags,
        )

    return router
