"""HTTP routes for operators: what the broker holds, dead letters, replay and purge.

The broker is shared by every project, so these routes are not under a project; they are
open to operators, and every replay and purge goes into the audit log."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from events.errors import Forbidden, InvalidInput
from gateway import ops
from gateway.api_errors import BODY, refusals
from gateway.api_models import DeadLetterList, Purged, QueueList, Replayed
from gateway.api_params import STRICT_QUERY, QueueName, QueueQuery, ReplayIds
from gateway.auth import User
from gateway.bootstrap import Container
from store.identity import is_operator

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


def current_operator(request: Request, user: User) -> str:
    container: Container = request.app.state.container
    with container.uow() as uow:
        if not is_operator(uow.session, user):
            raise Forbidden("only owners of a project may operate the queues")
    return user


Operator = Annotated[str, Depends(current_operator)]


def ops_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=STRICT_QUERY)
    broker = container.broker

    def audit(action: str, user: str, **details: Any) -> None:
        with container.uow() as uow:
            uow.audit(action, actor=user, project_id=None, **details)
            uow.commit()
        log.info(action, actor=user, **details)

    @router.get("/queues", operation_id="listQueues", responses=refusals(401, 403, 422))
    def queues(_user: Operator) -> QueueList:
        """Per queue: ready, delayed, in flight, dead, the oldest ready message's age."""
        return QueueList.model_validate({"queues": ops.queue_stats(broker)})

    @router.get("/dead-letters", operation_id="listDeadLetters", responses=refusals(401, 403, 422))
    def dead_letters(_user: Operator, queue: QueueQuery = None) -> DeadLetterList:
        return DeadLetterList.model_validate({"dead_letters": ops.dead_letters(broker, queue)})

    @router.post(
        "/dead-letters/replay",
        operation_id="replayDeadLetters",
        responses=refusals(401, 403, 422, *BODY),
    )
    def replay(body: ReplayBody, user: Operator) -> Replayed:
        """Replay only what was named, or everything when asked for in so many words."""
        if body.all == bool(body.ids):
            raise InvalidInput('give either "ids" or "all": true')
        replayed = ops.replay(broker, "all" if body.all else body.ids, body.queue)
        audit("ops.replay", user, queue=body.queue, all=body.all, replayed=replayed)
        return Replayed(replayed=replayed)

    @router.post(
        "/dead-letters/purge",
        operation_id="purgeDeadLetters",
        responses=refusals(401, 403, 422, *BODY),
    )
    def purge(body: PurgeBody, user: Operator) -> Purged:
        if not body.confirm:
            raise InvalidInput('purging drops dead letters for good: send "confirm": true')
        purged = ops.purge(broker, body.queue)
        audit("ops.purge", user, queue=body.queue, purged=purged)
        return Purged(purged=purged)

    return router
