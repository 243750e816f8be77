"""Read what dramatiq's RedisBroker holds, straight from Redis."""

from __future__ import annotations

import json
from typing import Any

import redis


def queued_messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """Messages waiting on a queue (in enqueue order), decoded; the client's `namespace`
    (see tests/conftest.py) is the broker's key prefix."""
    namespace = getattr(client, "namespace", "dramatiq")
    ids = client.lrange(f"{namespace}:{queue}", 0, -1)
    bodies = client.hmget(f"{namespace}:{queue}.msgs", ids) if ids else []
    return [json.loads(body) for body in bodies if body is not None]
