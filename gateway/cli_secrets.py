"""How the CLI takes a secret: a hidden prompt on a terminal, one line of standard input
in a script; never a command-line argument (it would show in `ps` and shell history)."""

from __future__ import annotations

import sys

import typer

from events.errors import InvalidInput
from gateway.cli_common import fail


def read_secret(what: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(what, hide_input=True)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(
            InvalidInput(
                f"no {what.lower()} given",
                "type it, or pipe it: printf '%s\\n' \"$SECRET\" | reglink …",
            )
        )
    return value


def infer_auth(auth: str | None, username: str | None, token: bool) -> str:
    """`--username` means basic and `--token-stdin` oauth2, unless --auth says otherwise."""
    if auth is not None:
        return auth
    if username is not None:
        return "basic"
    return "oauth2" if token else "anonymous"


def link_secrets(auth: str, password_stdin: bool, token_stdin: bool) -> dict[str, str]:
    """The secret a new link needs: asked for on a terminal even without --password-stdin;
    a script must pass it on standard input."""
    secrets: dict[str, str] = {}
    if password_stdin or (auth == "basic" and not token_stdin and sys.stdin.isatty()):
        secrets["password"] = read_secret("Password")
    if token_stdin or (auth == "oauth2" and not password_stdin and sys.stdin.isatty()):
        secrets["token"] = read_secret("Token")
    if auth == "basic" and "password" not in secrets:
        fail(
            InvalidInput(
                "basic auth needs a password",
                "pass it on standard input with --password-stdin",
            )
        )
    if auth == "oauth2" and "token" not in secrets:
        fail(InvalidInput("oauth2 needs a token", "pass it on standard input with --token-stdin"))
    return secrets
