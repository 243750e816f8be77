from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from workers.recheck import token_expiry


def jwt(claims: dict[str, object]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{part}.c2ln"


def test_jwt_shaped_tokens_tell_their_expiry() -> None:
    assert token_expiry(jwt({"exp": 1_900_000_000})) == datetime.fromtimestamp(1_900_000_000, UTC)


def test_other_secrets_have_no_known_expiry() -> None:
    assert token_expiry(None) is None
    assert token_expiry("plain-password") is None
    assert token_expiry(jwt({"sub": "x"})) is None
    assert token_expiry("a.b.c") is None
