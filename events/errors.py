"""Why a command is refused: one small hierarchy, one machine-readable code each.

These codes, the failure reasons of `workers/outbound/errors.py` and the few the CLI
adds (`api_unreachable`, `misconfigured`, `timeout`) are one vocabulary, listed in
docs/errors.md: the API's `{"error": {"code"}}`, a failed command's `error.code`, the
CLI's `error: CODE: …` and an event's `reason` all use it."""

from __future__ import annotations


class CommandRejected(Exception):
    """A command that must not change anything; `code` is stable, `message` is for people."""

    code = "invalid_input"
    http_status = 422

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint  # the next step for a person: a setting or a command to run


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


class ApiUnreachable(CommandRejected):
    """The CLI cannot reach the reglink API (not started, or another address)."""

    code = "api_unreachable"
    http_status = 503


class Misconfigured(CommandRejected):
    """A process lacks a setting it needs (keys, Redis) or settings disagree."""

    code = "misconfigured"
    http_status = 500


class TimedOut(CommandRejected):
    """A wait ended before the command's outcome was known; the command carries on."""

    code = "timeout"
    http_status = 504


REJECTIONS: dict[str, type[CommandRejected]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        InsecureNotAllowed,
        InvalidSealedSecret,
        UnknownCommand,
        InvalidEnvelope,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        ApiUnreachable,
        Misconfigured,
        TimedOut,
    )
}
