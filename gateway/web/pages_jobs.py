"""Build jobs: which registries each uses, their recent deliveries, and redelivering a
dead one (owners)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.bootstrap import Container
from gateway.documents import delivery_document, job_document
from gateway.web.viewer import ConsoleRoute, PostedForm, SignedIn, open_project, redirect, render
from store.jobs import list_deliveries, list_jobs, retry_delivery

DEFAULT_RECENT_DELIVERIES = 10  # deliveries shown per job, newest first


def jobs_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/projects/{project}/jobs", route_class=ConsoleRoute)

    @router.get("")
    def jobs(request: Request, project: str, viewer: SignedIn) -> Response:
        with container.uow() as uow:
            found, owner = open_project(uow, project, viewer)
            listing = [
                (
                    job_document(job, uses).model_dump(),
                    [
                        delivery_document(row, name).model_dump()
                        for row, name in list_deliveries(uow.session, found, job.name)[
                            :DEFAULT_RECENT_DELIVERIES
                        ]
                    ],
                )
                for job, uses in list_jobs(uow.session, found)
            ]
        return render(
            request,
            "jobs.html",
            f"Build jobs · {project}",
            project=project,
            owner=owner,
            jobs=listing,
            active="jobs",
        )

    @router.post("/{job}/deliveries/{delivery_id}/redeliver")
    def redeliver(
        request: Request,
        project: str,
        job: str,
        delivery_id: str,
        viewer: SignedIn,
        form: PostedForm,
    ) -> Response:
        with container.uow() as uow:
            found, _owner = open_project(uow, project, viewer, owner=True)
            retry_delivery(uow, found, job, delivery_id, str(viewer.user))
            uow.commit()
        return redirect(f"/projects/{project}/jobs")

    return router
