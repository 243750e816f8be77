"""HTTP routes for build jobs: register, authorize registries, see deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict

from events.validation import check_name, check_url
from gateway.api_errors import BODY, READ, WRITE, refusals
from gateway.api_models import (
    DeliveryList,
    DeliveryRetry,
    JobList,
    JobUse,
    NewJob,
    RotatedSecret,
)
from gateway.api_params import STRICT_QUERY, JobPath, Name, ProjectPath, RegistryPath, Url
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
    name: Name
    webhook: Url


def jobs_router(container: Container) -> APIRouter:
    router = APIRouter(
        prefix="/v1/projects/{project}/jobs", tags=["jobs"], dependencies=STRICT_QUERY
    )
    box = SecretBox(container.keys.store)

    @router.post("", status_code=201, operation_id="addJob", responses=refusals(*WRITE, *BODY))
    def add(project: ProjectPath, body: JobBody, user: User) -> NewJob:
        """The signing secret is in this answer and nowhere else, ever."""
        check_name(body.name, "job name")
        webhook = check_url(body.webhook, container.settings.insecure_hosts)
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            secret = create_job(uow, box, found, body.name, webhook, user)
            uow.commit()
        return NewJob(name=body.name, webhook=webhook, secret=secret)

    @router.get("", operation_id="listJobs", responses=refusals(*READ))
    def listing(project: ProjectPath, user: User) -> JobList:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            jobs = list_jobs(uow.session, found)
            return JobList(jobs=[job_document(job, uses) for job, uses in jobs])

    @router.put("/{job}/registries/{name}", operation_id="useRegistry", responses=refusals(*WRITE))
    def use(project: ProjectPath, job: JobPath, name: RegistryPath, user: User) -> JobUse:
        """The job gets the registry's current details now, and every update after."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            registry = use_registry(uow, found, job, name, user)
            uow.commit()
            return JobUse(job=job, registry=registry.name, version=registry.version)

    @router.delete(
        "/{job}/registries/{name}",
        status_code=204,
        operation_id="dropRegistry",
        responses={204: {"description": "The job was told to drop it."}, **refusals(*WRITE)},
    )
    def drop(project: ProjectPath, job: JobPath, name: RegistryPath, user: User) -> Response:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            drop_registry(uow, found, job, name, user)
            uow.commit()
        return Response(status_code=204)

    @router.get("/{job}/deliveries", operation_id="listDeliveries", responses=refusals(*READ))
    def deliveries(project: ProjectPath, job: JobPath, user: User) -> DeliveryList:
        """Newest first."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=False)
            rows = list_deliveries(uow.session, found, job)
            return DeliveryList(deliveries=[delivery_document(row, name) for row, name in rows])

    @router.post(
        "/{job}/deliveries/{delivery_id}/retry",
        status_code=202,
        operation_id="retryDelivery",
        responses=refusals(*WRITE),
    )
    def retry(
        project: ProjectPath,
        job: JobPath,
        delivery_id: Annotated[str, Path(max_length=100)],
        user: User,
    ) -> DeliveryRetry:
        """Send a dead delivery again."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            retry_delivery(uow, found, job, delivery_id, user)
            uow.commit()
        return DeliveryRetry(delivery_id=delivery_id, status="pending")

    @router.delete("/{job}", status_code=204, operation_id="deleteJob", responses=refusals(*WRITE))
    def delete(project: ProjectPath, job: JobPath, user: User) -> Response:
        """The job stops receiving deliveries; its secret and history are destroyed."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            delete_job(uow, found, job, user)
            uow.commit()
        return Response(status_code=204)

    @router.post("/{job}/secret", operation_id="rotateJobSecret", responses=refusals(*WRITE))
    def rotate(project: ProjectPath, job: JobPath, user: User) -> RotatedSecret:
        """A new signing secret, in this answer and nowhere else; the old one stops now."""
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            secret = rotate_job_secret(uow, box, found, job, user)
            uow.commit()
        return RotatedSecret(name=job, secret=secret)

    return router
