"""The HTTP API under /v1: one router per resource, and the one error model every route
answers with (`{"error": {"code", "message"}}`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from events.errors import CommandRejected, InvalidInput
from gateway.api_asyncapi import asyncapi_router
from gateway.api_commands import commands_router
from gateway.api_errors import UNAVAILABLE, error_body
from gateway.api_health import health_router
from gateway.api_jobs import jobs_router
from gateway.api_keys import keys_router
from gateway.api_metrics import RequestMetrics
from gateway.api_ops import ops_router
from gateway.api_projects import projects_router
from gateway.api_registries import registries_router
from gateway.body_limit import BodyLimit
from gateway.bootstrap import Container
from gateway.web import install_console
from store.errors import DatabaseUnavailable


def create_app(container: Container) -> FastAPI:
    # FastAPIOffline serves Swagger UI and ReDoc from the package: /docs works offline.
    app = FastAPIOffline(title="reglink", version="0.1.0", openapi_url="/openapi.json")
    app.state.container = container
    app.add_middleware(BodyLimit, limit=container.settings.max_body_bytes)
    app.add_middleware(RequestMetrics)

    @app.exception_handler(CommandRejected)
    async def _rejected(_request: Request, exc: CommandRejected) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content=error_body(exc.code, exc.message))

    @app.exception_handler(DatabaseUnavailable)
    async def _database(_request: Request, _exc: DatabaseUnavailable) -> JSONResponse:
        """The store is away for now (restarting, unreachable): a 503 the caller can
        retry, not a 500, and never the driver's text."""
        return JSONResponse(
            status_code=503,
            content=error_body(UNAVAILABLE, "the database is unavailable for now; try again"),
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        """What the router itself refuses (no such route, method not allowed) in the same
        error model as everything else."""
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(code, str(exc.detail)),
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: it may hold a password.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        return JSONResponse(status_code=422, content=error_body(InvalidInput.code, problems))

    app.include_router(keys_router(container))
    app.include_router(registries_router(container))
    app.include_router(commands_router(container))
    app.include_router(jobs_router(container))
    app.include_router(ops_router(container))
    app.include_router(projects_router(container))
    app.include_router(health_router(container))
    install_console(app, container)
    app.include_router(asyncapi_router())
    return app
