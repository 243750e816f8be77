"""Seal credentials to the workers' public key with HPKE (RFC 9180).

Suite: X25519, HKDF-SHA256, ChaCha20-Poly1305.

A publisher needs only the public key; Redis and the broker only ever see the sealed form.
The project name is bound in as HPKE `info`, so a sealed secret cannot be replayed into
another project's command.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from events.errors import InvalidSealedSecret

PREFIX = "rlseal1"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
DEFAULT_MAX_SEALED_LENGTH = 16384  # a sealed secret longer than this is refused unread


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _info(project: str) -> bytes:
    return b"reglink/credential/v1|" + project.encode()


def generate_private_key() -> str:
    """A new private key, as base64 text for a settings value or a key file."""
    raw = X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return _b64(raw)


def load_private_key(text: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_unb64(text.strip()))


def load_public_key(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_unb64(text.strip()))


def public_key_text(key: X25519PrivateKey | X25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return _b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_id(key: X25519PrivateKey | X25519PublicKey) -> str:
    return hashlib.sha256(_unb64(public_key_text(key))).hexdigest()[:12]


def seal(secret: str, public_key: X25519PublicKey | str, *, project: str) -> str:
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    ciphertext = _SUITE.encrypt(secret.encode(), key, info=_info(project))
    return f"{PREFIX}.{key_id(key)}.{_b64(ciphertext)}"


def unseal(sealed: str, private_keys: Sequence[X25519PrivateKey], *, project: str) -> str:
    """Open a sealed secret with the key it names; any defect is `InvalidSealedSecret`."""
    if len(sealed) > DEFAULT_MAX_SEALED_LENGTH:
        raise InvalidSealedSecret("sealed secret is too long")
    parts = sealed.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidSealedSecret("sealed secret is malformed")
    keys = {key_id(k): k for k in private_keys}
    key = keys.get(parts[1])
    if key is None:
        raise InvalidSealedSecret("sealed secret was sealed to an unknown key")
    try:
        plaintext = _SUITE.decrypt(_unb64(parts[2]), key, info=_info(project))
        return plaintext.decode()
    except (InvalidTag, ValueError, UnicodeDecodeError):
        raise InvalidSealedSecret(
            "sealed secret cannot be opened (tampered or for another project)"
        ) from None
