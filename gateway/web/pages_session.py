"""Signing in with an API token, signing out, and the projects the user belongs to."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.bootstrap import Container
from gateway.web.session import COOKIE_NAME, SIGNIN_COOKIE_NAME, Session
from gateway.web.viewer import (
    AnyViewer,
    ConsoleRoute,
    PostedForm,
    SignedIn,
    field,
    redirect,
    render,
    set_cookie,
)
from store.identity import find_token, memberships


def _local(target: str) -> str:
    """Only a path on this site: a sign-in link must not send the user elsewhere."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def session_router(container: Container) -> APIRouter:
    router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

    @router.get("/signin")
    def signin_page(request: Request, viewer: AnyViewer, next: str = "/") -> Response:
        if viewer.user is not None:
            return redirect(_local(next))
        return render(request, "signin.html", "Sign in", next=_local(next), errors={})

    @router.post("/signin")
    def signin(request: Request, viewer: AnyViewer, form: PostedForm) -> Response:
        """The token is checked and forgotten: the cookie holds only the token's id."""
        target = _local(field(form, "next") or "/")
        with container.uow() as uow:
            token = find_token(uow.session, field(form, "token"))
            token_id = token.id if token is not None else None
        if token_id is None:
            errors = {"token": "this API token is not valid (it may have been revoked)"}
            return render(
                request, "signin.html", "Sign in", status_code=401, next=target, errors=errors
            )
        set_cookie(request, COOKIE_NAME, Session.new(token_id))
        set_cookie(request, SIGNIN_COOKIE_NAME, None)
        return redirect(target)

    @router.post("/signout")
    def signout(request: Request, viewer: SignedIn, form: PostedForm) -> Response:
        set_cookie(request, COOKIE_NAME, None)
        return redirect("/signin")

    @router.get("/")
    def projects(request: Request, viewer: SignedIn) -> Response:
        assert viewer.user is not None
        with container.uow() as uow:
            rows = memberships(uow.session, viewer.user)
        return render(request, "projects.html", "Projects", projects=rows)

    return router
