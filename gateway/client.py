"""The CLI's HTTP client: the API is the only way the CLI changes anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from events.errors import REJECTIONS, CommandRejected

DEFAULT_TIMEOUT = 30.0  # seconds per API request
DEFAULT_WAIT = 120.0  # seconds `--wait` waits for an outcome


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
        """Poll until the command has an outcome."""
        return self.poll(
            f"/v1/commands/{command_id}",
            lambda doc: doc["status"] != "queued",
            timeout,
            f"command {command_id}",
        )

    def wait_for_verification(
        self, command_id: str, timeout: float = DEFAULT_WAIT
    ) -> dict[str, Any]:
        """Poll until the linked registry is verified or failed; the command document."""
        return self.poll(
            f"/v1/commands/{command_id}",
            lambda doc: (
                doc["status"] == "failed"
                or (
                    doc["status"] == "succeeded"
                    and (doc.get("registry") or {}).get("status") != "pending"
                )
            ),
            timeout,
            "the registry's verification",
        )

    def poll(
        self, path: str, done: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """GET `path` until `done`; backs off from 50 ms to 1 s."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            document = self.request("GET", path)
            if done(document):
                return document
            if time.monotonic() > deadline:
                raise ApiError(f"no outcome for {what} after {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
