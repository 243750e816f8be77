"""The owners' forms: link, edit, unlink and crawl. Each one submits its command through
`gateway.submit` (the path the API takes, with the same pre-checks) and then follows it
on the command's page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from events.errors import CommandRejected, Conflict
from events.messages import Command, CrawlRegistry, UnlinkRegistry
from gateway.bootstrap import Container
from gateway.documents import registry_document
from gateway.submit import submit
from gateway.web.forms import RegistryForm, link_command, update_command
from gateway.web.viewer import ConsoleRoute, PostedForm, SignedIn, open_project, redirect, render
from store.jobs import jobs_using
from store.registries import get_active

STALE_FORM = (
    "Someone changed this registry after you opened this form (it is now at version {now}, "
    "the form was for version {was}). Nothing was saved: reload the form to see the "
    "current details, then make your change again."
)


def changes_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/projects/{project}", route_class=ConsoleRoute)

    def send(project: str, command: Command, user: str | None) -> Response:
        accepted = submit(container, command, actor=str(user))
        return redirect(f"/projects/{project}/commands/{accepted.command_id}")

    def form_page(
        request: Request, project: str, typed: RegistryForm, editing: str | None, status: int
    ) -> Response:
        title = f"Edit {editing}" if editing else "Link External Registry"
        return render(
            request,
            "registry_form.html",
            f"{title} · {project}",
            heading=title,
            project=project,
            form=typed,
            editing=editing,
            status_code=status,
        )

    @router.get("/link")
    def link_page(request: Request, project: str, viewer: SignedIn) -> Response:
        with container.uow() as uow:
            open_project(uow, project, viewer, owner=True)
        return form_page(request, project, RegistryForm(), None, 200)

    @router.post("/link")
    def link(request: Request, project: str, viewer: SignedIn, form: PostedForm) -> Response:
        typed = RegistryForm.posted(form)
        try:
            return send(project, link_command(container, project, form, typed), viewer.user)
        except CommandRejected as exc:
            typed.refused(exc)
            return form_page(request, project, typed, None, exc.http_status)

    @router.get("/registries/{name}/edit")
    def edit_page(request: Request, project: str, name: str, viewer: SignedIn) -> Response:
        with container.uow() as uow:
            found, _owner = open_project(uow, project, viewer, owner=True)
            registry = get_active(uow.session, found, name)
            typed = RegistryForm.of(registry)
            if registry.status == "failed":
                typed.failed(registry.reason, registry.message)
        return form_page(request, project, typed, registry.name, 200)

    @router.post("/registries/{name}/edit")
    def edit(
        request: Request, project: str, name: str, viewer: SignedIn, form: PostedForm
    ) -> Response:
        typed = RegistryForm.posted(form)
        with container.uow() as uow:
            found, _owner = open_project(uow, project, viewer, owner=True)
            registry = get_active(uow.session, found, name)
        try:
            command = update_command(container, project, registry, form, typed)
            return send(project, command, viewer.user)
        except CommandRejected as exc:
            if isinstance(exc, Conflict) and typed.expected_version not in (None, registry.version):
                exc = Conflict(STALE_FORM.format(now=registry.version, was=typed.expected_version))
            typed.refused(exc)
            return form_page(request, project, typed, registry.name, exc.http_status)

    def unlink_form(
        request: Request, project: str, name: str, viewer: SignedIn, error: CommandRejected | None
    ) -> Response:
        with container.uow() as uow:
            found, _owner = open_project(uow, project, viewer, owner=True)
            registry = get_active(uow.session, found, name)
            document, jobs = (
                registry_document(registry).model_dump(),
                jobs_using(uow.session, registry),
            )
        return render(
            request,
            "unlink.html",
            f"Unlink {document['name']} · {project}",
            project=project,
            registry=document,
            jobs=jobs,
            error=error.message if error else None,
            status_code=error.http_status if error else 200,
        )

    @router.get("/registries/{name}/unlink")
    def unlink_page(request: Request, project: str, name: str, viewer: SignedIn) -> Response:
        return unlink_form(request, project, name, viewer, None)

    @router.post("/registries/{name}/unlink")
    def unlink(
        request: Request, project: str, name: str, viewer: SignedIn, form: PostedForm
    ) -> Response:
        """Without `force`, jobs that use the registry refuse the unlink (named again)."""
        command = UnlinkRegistry(project=project, name=name, force=form.get("force") == "yes")
        try:
            return send(project, command, viewer.user)
        except Conflict as exc:
            return unlink_form(request, project, name, viewer, exc)

    @router.post("/registries/{name}/crawl")
    def crawl(
        request: Request, project: str, name: str, viewer: SignedIn, form: PostedForm
    ) -> Response:
        return send(project, CrawlRegistry(project=project, name=name), viewer.user)

    return router
