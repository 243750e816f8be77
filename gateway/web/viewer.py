"""Who is looking at a console page, and how pages answer: the session behind the cookie,
CSRF checks on every form, HTML error pages, and one `render` every page goes through.

Console routes use `ConsoleRoute`, so an error raised anywhere below them (a 404 from
`authorize`, a 409 from a pre-check) becomes a page, and a visitor who is not signed in
is sent to the sign-in page, while the JSON API keeps its own error model."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from events.errors import CommandRejected, Forbidden
from gateway.bootstrap import Container
from gateway.web.session import (
    COOKIE_NAME,
    DEFAULT_SESSION_LIFETIME,
    SIGNIN_COOKIE_NAME,
    Session,
    SessionSigner,
)
from store.identity import authorized_role, token_user
from store.tables import Project
from store.uow import UnitOfWork

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


@dataclass(frozen=True)
class Console:
    """What every console request needs, kept on `app.state.console`."""

    container: Container
    signer: SessionSigner


@dataclass(frozen=True)
class Viewer:
    user: str | None
    session: Session
    csrf: str


class SignInRequired(Exception):
    """The page needs a signed-in user; the route answers with the sign-in page."""


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def set_cookie(request: Request, name: str, session: Session | None) -> None:
    """A cookie the response will set (a session), or delete (None)."""
    if not hasattr(request.state, "cookies"):
        request.state.cookies = {}
    request.state.cookies[name] = session


def current_viewer(request: Request) -> Viewer:
    """The signed-in user's session; else the visitor's sign-in session, which only the
    sign-in form uses. The two are separate cookies, so a page seen without the session
    cookie (SameSite=Strict withholds it on a link from another site) never replaces it."""
    console = console_of(request)
    session = console.signer.load(request.cookies.get(COOKIE_NAME))
    user = None
    if session is not None and session.token_id is not None:
        with console.container.uow() as uow:
            found = token_user(uow.session, session.token_id)
            user = found.name if found is not None else None
    if session is None or user is None:  # not signed in, or the token was revoked since
        session = console.signer.load(request.cookies.get(SIGNIN_COOKIE_NAME))
        if session is None:
            session = Session.new()
            set_cookie(request, SIGNIN_COOKIE_NAME, session)
    viewer = Viewer(user, session, console.signer.csrf(session))
    request.state.viewer = viewer
    return viewer


AnyViewer = Annotated[Viewer, Depends(current_viewer)]


def signed_in_viewer(viewer: AnyViewer) -> Viewer:
    if viewer.user is None:
        raise SignInRequired()
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in_viewer)]


async def checked_form(request: Request, viewer: AnyViewer) -> FormData:
    """The posted form, if it carries this session's CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not console_of(request).signer.csrf_ok(viewer.session, token):
        raise Forbidden("this form has expired or did not come from this site; reload the page")
    return form


PostedForm = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str) -> str:
    """A text field, trimmed; missing or a file upload reads as empty."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def render(
    request: Request, template: str, title: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"title": title, "viewer": viewer, **context},
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    """After a form: 303, so reloading the next page never posts the form again."""
    return RedirectResponse(url, status_code=303)


class ConsoleRoute(APIRoute):
    """Console answers: HTML errors, the sign-in redirect, and the session cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = redirect(f"/signin?next={quote(request.url.path)}")
            except CommandRejected as exc:
                response = render(
                    request, "error.html", "Error", status_code=exc.http_status, error=exc
                )
            cookies: dict[str, Session | None] = getattr(request.state, "cookies", {})
            secure = request.url.scheme == "https"
            for name, session in cookies.items():
                if session is None:
                    response.delete_cookie(name, httponly=True, secure=secure, samesite="strict")
                    continue
                response.set_cookie(
                    name,
                    console_of(request).signer.dump(session),
                    max_age=DEFAULT_SESSION_LIFETIME,
                    httponly=True,
                    secure=secure,
                    samesite="strict",
                )
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return console_handler


def open_project(
    uow: UnitOfWork, name: str, viewer: Viewer, *, owner: bool = False
) -> tuple[Project, bool]:
    """The project if the viewer belongs to it (`owner`: and owns it), and whether they
    own it: owners see the forms, members see the same pages read-only."""
    project, role = authorized_role(uow.session, name, viewer.user, owner=owner)
    return project, role == "owner"
