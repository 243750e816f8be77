"""The request body limit at the edge: a body larger than `REGLINK_MAX_BODY_BYTES` gets 413
before it is read in full, whether it declares its length (Content-Length) or streams it
in chunks. Nothing behind the limit runs for such a request, so nothing changes."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DISCONNECT: Message = {"type": "http.disconnect"}


class BodyLimit:
    """Pure ASGI middleware (no buffering): counts body bytes as the app reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.limit:
                await _refuse(send, 413, self._too_large())
                return
        answered = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal answered, received
            if answered:
                return _DISCONNECT
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    answered = True
                    await _refuse(send, 413, self._too_large())
                    return _DISCONNECT  # the app stops reading; its answer is dropped
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not answered:
                raise

    def _too_large(self) -> str:
        return f"the request body is larger than {self.limit} bytes (REGLINK_MAX_BODY_BYTES)"


async def _refuse(send: Send, status: int, message: str) -> None:
    code = "too_large" if status == 413 else "invalid_input"
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
