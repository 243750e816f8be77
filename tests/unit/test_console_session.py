"""The console's cookie: signed, expiring, never the token; CSRF tokens per session."""

from __future__ import annotations

import time

from gateway.web.session import Session, SessionSigner


def test_a_signed_session_reads_back_and_a_tampered_one_does_not() -> None:
    signer = SessionSigner("store-key-one")
    session = Session.new("token-id-1")
    cookie = signer.dump(session)
    assert signer.load(cookie) == session
    mac = cookie.split(".")[1]
    forged = signer.dump(Session(session.nonce, "token-id-2", session.expires)).split(".")[0]
    assert signer.load(f"{forged}.{mac}") is None
    assert SessionSigner("another-key").load(cookie) is None
    assert signer.load("garbage") is None


def test_an_expired_session_is_refused() -> None:
    signer = SessionSigner("store-key-one")
    assert signer.load(signer.dump(Session("n", "token-id", int(time.time()) - 1))) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    signer = SessionSigner("store-key-one")
    first, second = Session.new(), Session.new()
    assert signer.csrf_ok(first, signer.csrf(first))
    assert not signer.csrf_ok(second, signer.csrf(first))
