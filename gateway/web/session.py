"""The console's session cookie and CSRF tokens.

The browser never holds the API token: sign-in exchanges it for a cookie that names the
token's id (so `reglink admin revoke-token` signs the browser out too), signed with a
key derived from the store keys every gateway process already shares. Every form carries
a CSRF token derived from the session's random nonce, and sign-in starts a new nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE_NAME = "reglink_session"
SIGNIN_COOKIE_NAME = "reglink_signin"  # the sign-in form's CSRF nonce, before a session
DEFAULT_SESSION_LIFETIME = 8 * 3600  # seconds a console session lasts without signing in again


@dataclass(frozen=True)
class Session:
    """What the cookie says: a nonce always; the API token's id once signed in."""

    nonce: str
    token_id: str | None
    expires: int

    @classmethod
    def new(cls, token_id: str | None = None) -> Session:
        return cls(secrets.token_urlsafe(16), token_id, int(time.time()) + DEFAULT_SESSION_LIFETIME)


class SessionSigner:
    """Signs and checks cookies and CSRF tokens with one HMAC key."""

    def __init__(self, store_key: str) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"reglink console session"
        ).derive(store_key.encode())

    def _mac(self, purpose: str, data: bytes) -> str:
        digest = hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def dump(self, session: Session) -> str:
        payload = json.dumps({"n": session.nonce, "t": session.token_id, "e": session.expires})
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{body}.{self._mac('cookie', body.encode())}"

    def load(self, cookie: str | None) -> Session | None:
        """The session, or None when the cookie is missing, forged or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("cookie", body.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(str(data["n"]), data["t"], int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf(self, session: Session) -> str:
        return self._mac("csrf", session.nonce.encode())

    def csrf_ok(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(self.csrf(session), token)
