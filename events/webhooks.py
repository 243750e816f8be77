"""Standard Webhooks signing, and the helpers a build orchestrator uses to check a delivery.

Signature: `v1,` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}")),
where the key is the base64 part of the job's `whsec_…` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds a delivery's timestamp may be off


class InvalidSignature(Exception):
    """The delivery was not signed with this secret, or is too old or too new."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secret: str, webhook_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
        "content-type": "application/cloudevents+json",
    }


def verify(
    secret: str, received: Mapping[str, str], body: bytes, tolerance: int = DEFAULT_TOLERANCE
) -> dict[str, Any]:
    """The CloudEvent of a delivery whose signature checks out; else `InvalidSignature`."""
    lowered = {k.lower(): v for k, v in received.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        raise InvalidSignature("missing or malformed webhook headers") from None
    if abs(time.time() - timestamp) > tolerance:
        raise InvalidSignature("the delivery's timestamp is outside the tolerance")
    expected = sign(secret, webhook_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no signature matches")
    event: dict[str, Any] = json.loads(body)
    return event
