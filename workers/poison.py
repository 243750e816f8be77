"""Messages a worker can never process become dead letters with their reason.

They never block other messages and never silently disappear: a message whose envelope
fails validation is failed at once (no retries, actors declare `throws=Poison`) and
dead-lettered with the reason, which `reglink ops dead-letters` shows. dramatiq
dead-letters a message for an undefined actor itself, and a message it cannot decode at
all is caught by the consumer (`store.queues.PoisonSafeRedisBroker`).
"""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

log = structlog.get_logger(__name__)


class Poison(Exception):
    """This message can never be processed; retrying cannot help."""


class PoisonMessages(Middleware):
    """Give a `Poison` failure its reason as the dead letter's last error."""

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if isinstance(exception, Poison):
            message.options["traceback"] = f"poison: {exception}"  # the dead letter's error
            log.error("message.poison", message_id=message.message_id, reason=str(exception))
