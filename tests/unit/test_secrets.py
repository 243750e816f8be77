"""Sealing in transit (HPKE) and encryption at rest (rotating key set)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from events import sealing
from events.errors import InvalidSealedSecret
from store.secrets import SecretBox, SecretUnreadable, generate_key


def test_sealed_secret_opens_only_with_the_key_and_for_the_project() -> None:
    private = sealing.load_private_key(sealing.generate_private_key())
    sealed = sealing.seal("pa55", sealing.public_key_text(private), project="demo")
    assert "pa55" not in sealed
    assert sealing.unseal(sealed, [private], project="demo") == "pa55"
    with pytest.raises(InvalidSealedSecret):
        sealing.unseal(sealed, [private], project="other")
    stranger = sealing.load_private_key(sealing.generate_private_key())
    with pytest.raises(InvalidSealedSecret):
        sealing.unseal(sealed, [stranger], project="demo")


def test_rotated_sealing_keys_still_open_older_secrets() -> None:
    old = sealing.load_private_key(sealing.generate_private_key())
    new = sealing.load_private_key(sealing.generate_private_key())
    sealed = sealing.seal("pa55", old.public_key(), project="demo")
    assert sealing.unseal(sealed, [new, old], project="demo") == "pa55"


@pytest.mark.parametrize(
    "text", ["", "garbage", "rlseal1.x.y", "rlseal1..", "rlseal2.a.b", "x" * 20000]
)
def test_malformed_sealed_secrets_are_refused(text: str) -> None:
    private = sealing.load_private_key(sealing.generate_private_key())
    with pytest.raises(InvalidSealedSecret):
        sealing.unseal(text, [private], project="demo")


def test_store_keys_rotate_without_losing_secrets() -> None:
    old_key, new_key = generate_key(), generate_key()
    sealed = SecretBox([old_key]).encrypt("pa55")
    rotated = SecretBox([new_key, old_key])
    assert rotated.decrypt(sealed) == "pa55"
    rewrapped = type(sealed)(rotated.rewrap(sealed.wrapped_key), sealed.ciphertext)
    assert SecretBox([new_key]).decrypt(rewrapped) == "pa55"
    with pytest.raises(SecretUnreadable):
        SecretBox([new_key]).decrypt(sealed)


def test_each_secret_has_its_own_data_key() -> None:
    box = SecretBox([generate_key()])
    a, b = box.encrypt("same"), box.encrypt("same")
    assert a.wrapped_key != b.wrapped_key and a.ciphertext != b.ciphertext
    assert "same" not in repr(a)
    with pytest.raises(SecretUnreadable):  # a data key only opens its own secret
        box.decrypt(type(a)(a.wrapped_key, b.ciphertext))
    assert Fernet  # the at-rest format is Fernet under Fernet
