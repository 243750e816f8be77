"""How long a server asks us to wait: `Retry-After` as registries and webhook receivers send
it (seconds or an HTTP date), and Docker Hub's `ratelimit-remaining` quota header."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, never negative; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # `inf` and `nan` parse as floats, but are no wait to honour
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_spent_quota(value: str | None) -> float | None:
    """The window, in seconds, of a quota with nothing left: Docker Hub answers pulls with
    `ratelimit-remaining: 76;w=21600` (76 left in a 6-hour window) and may refuse the next
    one with a 429 that has no `Retry-After`. The window is the longest the quota takes to
    refill, so it is the wait to honour. None while requests remain, or when the header is
    absent, unreadable, or gives no window."""
    if value is None:
        return None
    count, *parameters = value.split(";")
    try:
        if int(count.strip()) != 0:
            return None
    except ValueError:
        return None
    for parameter in parameters:
        name, _, window = parameter.partition("=")
        if name.strip().lower() == "w":
            try:
                seconds = float(window.strip())
            except ValueError:
                return None
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None
