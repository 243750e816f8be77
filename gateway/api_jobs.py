"""HTTP routes for build jobs: register, authorize registries, see deliveries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from events.validation import check_name, check_url
from gateway.auth import User
from gateway.bootstrap import Container
from gateway.documents import delivery_document, job_document
from store.identity import authorize
from store.jobs import (
    create_job,
    delete_job,
    drop_registry,
    list_deliveries,
    list_jobs,
    retry_delivery,
    rotate_job_secret,
    use_registry,
)
from store.secrets import SecretBox


class JobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    webhook: str


def jobs_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/projects/{project}/jobs")
    box = SecretBox(container.keys.store)

    @router.post("", status_code=201)
    def add(project: str, body: JobBody, user: User) -> dict[str, Any]:
        """The signing secret is in this answer and nowhere else, ever."""
        check_name(body.name, "job name")
        webhook = check_url(body.webhook, container.settings.insecure_hosts)
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            secret = create_job(uow, box, found, body.name, webhook, user)
            uow.commit()
        return {"name": body.name, "webhook": webhook, "secret": secret}

    @router.get("")
    def listing(project: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            jobs = list_jobs(uow.session, found)
            return {"jobs": [job_document(job, uses) for job, uses in jobs]}

    @router.put("/{job}/registries/{name}")
    def use(project: str, job: str, name: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            registry = use_registry(uow, found, job, name, user)
            uow.commit()
            return {"job": job, "registry": registry.name, "version": registry.version}

    @router.delete("/{job}/registries/{name}", status_code=204)
    def drop(project: str, job: str, name: str, user: User) -> Response:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            drop_registry(uow, found, job, name, user)
            uow.commit()
        return Response(status_code=204)

    @router.get("/{job}/deliveries")
    def deliveries(project: str, job: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            rows = list_deliveries(uow.session, found, job)
            return {"deliveries": [delivery_document(row, name) for row, name in rows]}

    @router.post("/{job}/deliveries/{delivery_id}/retry", status_code=202)
    def retry(project: str, job: str, delivery_id: str, user: User) -> dict[str, Any]:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            retry_delivery(uow, found, job, delivery_id, user)
            uow.commit()
        return {"delivery_id": delivery_id, "status": "pending"}

    @router.delete("/{job}", status_code=204)
    def delete(project: str, job: str, user: User) -> Response:
        """The job stops receiving deliveries; its secret and history are destroyed."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            delete_job(uow, found, job, user)
            uow.commit()
        return Response(status_code=204)

    @router.post("/{job}/secret")
    def rotate(project: str, job: str, user: User) -> dict[str, Any]:
        """A new signing secret, in this answer and nowhere else; the old one stops now."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            secret = rotate_job_secret(uow, box, found, job, user)
            uow.commit()
        return {"name": job, "secret": secret}

    return router
