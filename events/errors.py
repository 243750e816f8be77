"""Why a command is refused: one small hierarchy, one machine-readable code each."""

from __future__ import annotations


class CommandRejected(Exception):
    """A command that must not change anything; `code` is stable, `message` is for people."""

    code = "invalid"
    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CommandRejected):
    """A field breaks the rules (name, URL, auth combination)."""

    code = "invalid_input"


class InsecureNotAllowed(CommandRejected):
    """Plain http to a host that is not listed in REGLINK_INSECURE_HOSTS."""

    code = "insecure_not_allowed"


class InvalidSealedSecret(CommandRejected):
    """The sealed credential is malformed, tampered with, or sealed to another key."""

    code = "invalid_sealed_secret"


class UnknownCommand(CommandRejected):
    """A message on the commands queue whose type reglink does not know."""

    code = "unknown_command"


class InvalidEnvelope(CommandRejected):
    """A message on the commands queue whose envelope breaks the contract."""

    code = "invalid_envelope"


class Unauthenticated(CommandRejected):
    """No valid API token."""

    code = "unauthenticated"
    http_status = 401


class Forbidden(CommandRejected):
    """The caller is not allowed to do this in this project."""

    code = "forbidden"
    http_status = 403


class NotFound(CommandRejected):
    """The project or registry does not exist (or is not visible to the caller)."""

    code = "not_found"
    http_status = 404


class Conflict(CommandRejected):
    """The name is taken in the project, or the state moved on."""

    code = "conflict"
    http_status = 409


REJECTIONS: dict[str, type[CommandRejected]] = {
    cls.code: cls
    for cls in (
        CommandRejected,
        InvalidInput,
        InsecureNotAllowed,
        InvalidSealedSecret,
        UnknownCommand,
        InvalidEnvelope,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
    )
}
