"""HTTP routes for the broker: what it holds, dead letters, replay and purge.

The broker is shared by every project, so `/v1/ops/*` is not under a project and is open to
operators only (a role granted with `reglink admin grant-operator`, not project ownership).
A project's owners see and replay their own project's dead letters under
`/v1/projects/{project}/dead-letters`; purging stays with operators. Every replay and purge
goes into the audit log."""

from __future__ import annotations

from typing import Any, Literal

import structlog
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from events.errors import InvalidInput
from gateway import ops
from gateway.api_errors import BODY, WRITE, refusals
from gateway.api_models import DeadLetterList, Purged, QueueList, Replayed
from gateway.api_params import STRICT_QUERY, QueueName, QueueQuery, ReplayIds
from gateway.auth import Operator, User
from gateway.bootstrap import Container
from store.identity import authorize
from store.ownership import message_project
from store.queues import DeadLetter
from store.uow import UnitOfWork

log = structlog.get_logger(__name__)


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: ReplayIds = []
    all: bool = False
    queue: QueueName | None = None


class PurgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: QueueName | None = None
    confirm: bool = False


def _ids(body: ReplayBody) -> list[str] | Literal["all"]:
    """Replay only what was named, or everything when asked for in so many words."""
    if body.all == bool(body.ids):
        raise InvalidInput('give either "ids" or "all": true')
    return "all" if body.all else body.ids


def ops_router(container: Container) -> APIRouter:
    router = APIRouter(tags=["ops"], dependencies=STRICT_QUERY)
    broker = container.broker

    def audit(action: str, user: str, project_id: str | None = None, **details: Any) -> None:
        with container.uow() as uow:
            uow.audit(action, actor=user, project_id=project_id, **details)
            uow.commit()
        log.info(action, actor=user, **details)

    @router.get("/v1/ops/queues", operation_id="listQueues", responses=refusals(401, 403, 422))
    def queues(_user: Operator) -> QueueList:
        """Per queue: ready, delayed, in flight, dead, the oldest ready message's age."""
        return QueueList.model_validate({"queues": ops.queue_stats(broker)})

    @router.get(
        "/v1/ops/dead-letters", operation_id="listDeadLetters", responses=refusals(401, 403, 422)
    )
    def dead_letters(_user: Operator, queue: QueueQuery = None) -> DeadLetterList:
        return DeadLetterList.model_validate({"dead_letters": ops.dead_letters(broker, queue)})

    @router.post(
        "/v1/ops/dead-letters/replay",
        operation_id="replayDeadLetters",
        responses=refusals(401, 403, 422, *BODY),
    )
    def replay(body: ReplayBody, user: Operator) -> Replayed:
        replayed = ops.replay(broker, _ids(body), body.queue)
        audit("ops.replay", user, queue=body.queue, all=body.all, replayed=replayed)
        return Replayed(replayed=replayed)

    @router.post(
        "/v1/ops/dead-letters/purge",
        operation_id="purgeDeadLetters",
        responses=refusals(401, 403, 422, *BODY),
    )
    def purge(body: PurgeBody, user: Operator) -> Purged:
        if not body.confirm:
            raise InvalidInput('purging drops dead letters for good: send "confirm": true')
        purged = ops.purge(broker, body.queue)
        audit("ops.purge", user, queue=body.queue, purged=purged)
        return Purged(purged=purged)

    @router.get(
        "/v1/projects/{project}/dead-letters",
        operation_id="listProjectDeadLetters",
        responses=refusals(401, 403, 404, 422),
    )
    def project_dead_letters(project: str, user: User, queue: QueueQuery = None) -> DeadLetterList:
        """The project's own dead letters, for its owners."""
        with container.uow() as uow:
            authorize(uow.session, project, user, owner=True)
            visible = _of_project(uow, project)
            letters = ops.dead_letters(broker, queue, visible)
        return DeadLetterList.model_validate({"dead_letters": letters})

    @router.post(
        "/v1/projects/{project}/dead-letters/replay",
        operation_id="replayProjectDeadLetters",
        responses=refusals(*WRITE, *BODY),
    )
    def project_replay(project: str, body: ReplayBody, user: User) -> Replayed:
        with container.uow() as uow:
            found = authorize(uow.session, project, user, owner=True)
            replayed = ops.replay(broker, _ids(body), body.queue, _of_project(uow, project))
        audit("ops.replay", user, found.id, queue=body.queue, all=body.all, replayed=replayed)
        return Replayed(replayed=replayed)

    return router


def _of_project(uow: UnitOfWork, project: str) -> ops.Visible:
    def visible(letter: DeadLetter) -> bool:
        return message_project(uow.session, ops.envelope_of(letter)) == project

    return visible
