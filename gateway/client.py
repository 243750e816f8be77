"""The CLI's HTTP client: the API is the only way the CLI changes anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from events.errors import REJECTIONS, ApiUnreachable, CommandRejected, TimedOut

DEFAULT_TIMEOUT = 30.0  # seconds per API request
DEFAULT_WAIT = 120.0  # seconds `--wait` waits for an outcome
TERMINAL_STATUSES = ("succeeded", "failed")  # a command's effect is settled


HINTS = {
    "api_unreachable": "start it with `reglink up`, or set REGLINK_API_URL to where it runs",
    "unauthenticated": "set REGLINK_TOKEN to the token `reglink admin create-project` or "
    "`reglink admin add-member` printed",
}  # the next step after an API error, by code


class ApiError(CommandRejected):
    """The API refused the request with a code this client does not know as a class."""

    def __init__(self, message: str, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.code = code


class ApiClient:
    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=DEFAULT_TIMEOUT
        )

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnreachable(
                f"cannot reach the reglink API at {self._http.base_url} ({type(exc).__name__})",
                HINTS["api_unreachable"],
            ) from None
        if response.is_success:
            body: dict[str, Any] = response.json() if response.content else {}
            return body
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                f"the API at {self._http.base_url} answered {response.status_code}",
                "api_unreachable",
            ) from None
        cls = REJECTIONS.get(code)
        raise cls(message, HINTS.get(code)) if cls else ApiError(message, code)

    def wait_for_command(
        self,
        command_id: str,
        timeout: float = DEFAULT_WAIT,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The command's document once its status is terminal. `succeeded` and `failed`
        mean the command's effect is settled (a link verified or failed, an update in force
        or refused, an unlink done, a crawl finished), so nothing else needs watching.
        `on_update` sees every document on the way (progress). Backs off from 50 ms to 1 s."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            document = self.request("GET", f"/v1/commands/{command_id}")
            if on_update is not None:
                on_update(document)
            if document["status"] in TERMINAL_STATUSES:
                return document
            if time.monotonic() > deadline:
                raise TimedOut(
                    f"no outcome for command {command_id} after {timeout:.0f}s",
                    f"it carries on: follow it with `reglink command {command_id} --wait`",
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
