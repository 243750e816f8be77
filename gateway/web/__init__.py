"""The web console at `/`: server-rendered pages over the same store queries, documents
and command path as the API, with plain forms that work without JavaScript."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.bootstrap import Container
from gateway.web.pages_changes import changes_router
from gateway.web.pages_commands import commands_router
from gateway.web.pages_jobs import jobs_router
from gateway.web.pages_registries import registries_router
from gateway.web.pages_session import session_router
from gateway.web.session import SessionSigner
from gateway.web.viewer import Console

STATIC_PATH = "/static/console"  # the console's own CSS and script


def install_console(app: FastAPI, container: Container) -> None:
    app.state.console = Console(container, SessionSigner(container.keys.store[0]))
    app.mount(STATIC_PATH, StaticFiles(directory=Path(__file__).parent / "static"), name="console")
    for router in (session_router, registries_router, changes_router, commands_router, jobs_router):
        app.include_router(router(container), include_in_schema=False)
