"""Answering a registry's auth challenges: Basic, or a Bearer token from the realm the
registry names (Docker token spec GET with basic credentials; for oauth2 the OAuth2
refresh-token grant, falling back to the long-lived token itself where the realm refuses).
Tokens are cached per (realm, service, scope) until shortly before they expire."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from workers.outbound.errors import (
    InvalidResponse,
    OutboundError,
    RateLimited,
    ServerError,
    TlsError,
    Unauthorized,
    Unreachable,
)
from workers.outbound.errors import Timeout as RequestTimeout
from workers.outbound.retry_after import parse_retry_after

DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token server does not say (token spec)
DEFAULT_TOKEN_MARGIN = 10  # re-fetch this long before a token expires
CLIENT_ID = "reglink"
# what to do about a registry (or token realm) certificate reglink does not trust
TLS_HINT = (
    "if the registry uses a private CA, give it with --ca-file (API: ca_pem); "
    "if the name is not one the certificate is for, use one that is"
)
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    auth: str  # anonymous | basic | oauth2
    username: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Challenge:
    scheme: str  # basic | bearer
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in ("basic", "bearer"):
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


class ChallengeAnswerer:
    """One registry's credentials; thread-safe, as a crawl shares it across threads."""

    def __init__(
        self,
        http: httpx.Client,
        credentials: Credentials,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._basic: str | None = None  # sent up front once a Basic challenge was answered
        self.token_requests = 0

    def answer(self, challenge: Challenge, scope: str | None) -> str | None:
        creds = self._credentials
        if challenge.scheme == "basic":
            if creds.auth == "anonymous" or creds.secret is None:
                return None
            pair = f"{creds.username or ''}:{creds.secret}".encode()
            self._basic = "Basic " + base64.b64encode(pair).decode()
            return self._basic
        realm = challenge.params.get("realm")
        if not realm:
            raise InvalidResponse("the registry's Bearer challenge names no realm")
        service = challenge.params.get("service", "")
        wanted = challenge.params.get("scope") or scope or ""
        return f"Bearer {self._token(realm, service, wanted)}"

    def cached(self, scope: str | None) -> str | None:
        key_scope = scope or ""
        now = self._clock()
        with self._lock:
            for (_realm, _service, cached_scope), (token, expires) in self._tokens.items():
                if cached_scope == key_scope and expires > now:
                    return f"Bearer {token}"
        return self._basic

    def _token(self, realm: str, service: str, scope: str) -> str:
        key = (realm, service, scope)
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > now:
                return cached[0]
        token, lifetime = self._fetch_token(realm, service, scope)
        with self._lock:
            self._tokens[key] = (token, now + max(1.0, lifetime - DEFAULT_TOKEN_MARGIN))
        return token

    def _fetch_token(self, realm: str, service: str, scope: str) -> tuple[str, float]:
        creds = self._credentials
        self.token_requests += 1
        params = {k: v for k, v in (("service", service), ("scope", scope)) if v}
        if creds.auth == "oauth2" and creds.secret:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.secret,
                "client_id": CLIENT_ID,
                **params,
            }
            response = self._send_token("POST", realm, data=form)
            if response.status_code in (400, 401, 403, 404, 405):
                # the realm does not do OAuth2: use the long-lived token as a Bearer token
                return creds.secret, float(DEFAULT_TOKEN_LIFETIME)
        else:
            auth = (
                (creds.username or "", creds.secret)
                if creds.auth == "basic" and creds.secret
                else None
            )
            response = self._send_token("GET", realm, params=params, auth=auth)
        if response.status_code in (401, 403):
            raise Unauthorized("the registry's token server refused the credentials")
        if response.status_code == 429:
            raise RateLimited(
                "the token server is rate limiting",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if response.status_code >= 500:
            raise ServerError(f"the token server answered {response.status_code}")
        if response.status_code != 200:
            raise InvalidResponse(f"the token server answered {response.status_code}")
        body = json_object(response, "token endpoint")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise InvalidResponse("the token server's answer holds no token")
        lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        return token, float(lifetime) if isinstance(lifetime, int | float) else float(
            DEFAULT_TOKEN_LIFETIME
        )

    def _send_token(self, method: str, realm: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, realm, **kwargs)
            response.read()
            return response
        except TlsError as exc:
            raise TlsError(f"the token server: {exc}; {TLS_HINT}") from None
        except OutboundError:
            raise
        except httpx.TimeoutException:
            raise RequestTimeout("the token server did not answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the token server: {type(exc).__name__}") from None


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The body as a JSON object, or `InvalidResponse`."""
    try:
        body = json.loads(response.content)
    except ValueError:
        raise InvalidResponse(f"{what} did not answer with JSON") from None
    if not isinstance(body, dict):
        raise InvalidResponse(f"{what} did not answer with a JSON object")
    return body
