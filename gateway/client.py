"""The CLI's HTTP client: the API is the only way the CLI changes anything."""

from __future__ import annotations

import time
from typing import Any

import httpx

from events.errors import REJECTIONS, CommandRejected

DEFAULT_TIMEOUT = 30.0  # seconds per API request
DEFAULT_WAIT = 120.0  # seconds `--wait` waits for an outcome
TERMINAL_STATUSES = ("succeeded", "failed")  # a command's effect is settled


class ApiError(CommandRejected):
    """The API refused the request or could not be reached."""


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
            raise ApiError(
                f"cannot reach the reglink API at {self._http.base_url}: {type(exc).__name__}"
            ) from None
        if response.is_success:
            body: dict[str, Any] = response.json()
            return body
        try:
            error = response.json()["error"]
            cls = REJECTIONS.get(error["code"], ApiError)
            raise cls(error["message"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(f"the API answered {response.status_code}") from None

    def wait_for_command(self, command_id: str, timeout: float = DEFAULT_WAIT) -> dict[str, Any]:
        """The command's document once its status is terminal. `succeeded` and `failed`
        mean the command's effect is settled (a link verified or failed, an update in force
        or refused, an unlink done, a crawl finished), so nothing else needs watching.
        Backs off from 50 ms to 1 s."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            document = self.request("GET", f"/v1/commands/{command_id}")
            if document["status"] in TERMINAL_STATUSES:
                return document
            if time.monotonic() > deadline:
                raise ApiError(f"no outcome for command {command_id} after {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
