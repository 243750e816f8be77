"""Docker Hub's quota header, and `Retry-After` values that are no wait at all."""

from __future__ import annotations

import pytest

from workers.outbound.retry_after import parse_retry_after, parse_spent_quota


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0;w=21600", 21600.0),  # Docker Hub, quota spent: wait the window
        ("0;w=3600", 3600.0),
        (" 0 ; W = 60 ", 60.0),
        ("0;foo=bar;w=30", 30.0),
        ("76;w=21600", None),  # requests remain
        ("1;w=21600", None),
        ("0", None),  # spent, but no window to wait for: the usual backoff applies
        ("0;w=", None),
        ("0;w=soon", None),
        ("0;w=-5", None),
        ("0;w=inf", None),
        ("0;w=nan", None),
        ("none;w=60", None),
        ("", None),
        (None, None),
    ],
)
def test_a_spent_quota_means_waiting_its_window(value: str | None, seconds: float | None) -> None:
    assert parse_spent_quota(value) == seconds


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_a_retry_after_that_is_not_a_finite_number_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None
