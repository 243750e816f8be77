"""The envelope every message travels in: CloudEvents 1.0 attributes plus reglink's own.

`commandid` ties an event to the command that caused it, `correlationid` ties a whole
journey together, `actor` names the user who asked. Extension names follow the
CloudEvents rule (lower-case letters and digits).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from events.errors import InvalidEnvelope, UnknownCommand
from events.messages import MESSAGE_TYPES, Message

DEFAULT_SOURCE = "/reglink"
DEFAULT_MAX_EXTENSIONS = 20  # CloudEvents extension attributes an envelope may carry
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")  # the CloudEvents naming rule
_JSON = re.compile(r"^application/json\s*(;\s*charset\s*=\s*\"?utf-8\"?\s*)?$", re.IGNORECASE)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Unknown attributes are accepted when they are CloudEvents extensions (lower-case
    letters and digits, a string, number or boolean value, e.g. `traceparent`): other
    services' tooling adds them. They travel along but mean nothing to reglink."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=new_id, min_length=1, max_length=100)
    source: str = DEFAULT_SOURCE
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: str = "application/json"
    commandid: str = Field(min_length=1, max_length=100)
    correlationid: str = Field(min_length=1, max_length=100)
    actor: str | None = None
    data: dict[str, Any]

    @field_validator("datacontenttype")
    @classmethod
    def _json_only(cls, value: str) -> str:
        if not _JSON.match(value):
            raise ValueError("datacontenttype must be application/json (charset utf-8)")
        return value

    @model_validator(mode="after")
    def _extensions(self) -> Envelope:
        extra = self.model_extra or {}
        if len(extra) > DEFAULT_MAX_EXTENSIONS:
            raise ValueError(f"at most {DEFAULT_MAX_EXTENSIONS} extension attributes")
        for name, value in extra.items():
            if not _EXTENSION_NAME.match(name):
                raise ValueError(f"{name[:40]!r} is not a CloudEvents extension attribute name")
            if not isinstance(value, str | int | float | bool) or len(str(value)) > 1000:
                raise ValueError(f"extension attribute {name!r} must be a short scalar")
        return self

    @classmethod
    def wrap(
        cls,
        message: Message,
        *,
        command_id: str | None = None,
        correlation_id: str | None = None,
        actor: str | None = None,
        source: str = DEFAULT_SOURCE,
        subject: str | None = None,
        id: str | None = None,
    ) -> Envelope:
        """Wrap a message; a command's envelope id *is* its command id."""
        envelope_id = id or command_id or new_id()
        return cls(
            id=envelope_id,
            source=source,
            type=message.TYPE,
            subject=subject,
            commandid=command_id or envelope_id,
            correlationid=correlation_id or command_id or envelope_id,
            actor=actor,
            data=message.model_dump(mode="json"),
        )

    def message(self) -> Message:
        """Decode `data` into the message type named by `type`."""
        cls = MESSAGE_TYPES.get(self.type)
        if cls is None:
            raise UnknownCommand(f"unknown message type {self.type!r}")
        try:
            return cls.model_validate(self.data)
        except ValidationError as exc:
            raise UnknownCommand(f"malformed {self.type}: {_summary(exc)}") from None

    def follow(
        self, message: Message, *, id: str | None = None, subject: str | None = None
    ) -> Envelope:
        """An envelope for a message this one caused, keeping command and correlation ids."""
        return Envelope.wrap(
            message,
            id=id or new_id(),
            command_id=self.commandid,
            correlation_id=self.correlationid,
            actor=self.actor,
            subject=subject,
        )


def parse_envelope(raw: Any) -> Envelope:
    """Parse a dict from the broker; a malformed one is `InvalidEnvelope`, never a crash."""
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEnvelope(f"malformed envelope: {_summary(exc)}") from None


def _summary(exc: ValidationError) -> str:
    """Field paths and reasons only: input values may hold secrets."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )
