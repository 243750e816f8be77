"""Secrets at rest: a per-secret data key, wrapped by a rotating key set (MultiFernet).

The first key encrypts; every key decrypts, so a new key can be put first and old
ciphertexts re-wrapped (`rewrap`) before the old key is retired. Destroying a secret's
row destroys its data key: nothing can decrypt it afterwards (crypto-shredding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with the configured keys."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


@dataclass(frozen=True)
class Sealed:
    wrapped_key: str
    ciphertext: str

    def __repr__(self) -> str:  # keep ciphertexts out of logs and tracebacks too
        return "Sealed(<redacted>)"


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one store key is required")
        self._master = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: str) -> Sealed:
        data_key = Fernet.generate_key()
        return Sealed(
            wrapped_key=self._master.encrypt(data_key).decode(),
            ciphertext=Fernet(data_key).encrypt(plaintext.encode()).decode(),
        )

    def decrypt(self, sealed: Sealed) -> str:
        try:
            data_key = self._master.decrypt(sealed.wrapped_key.encode())
            return Fernet(data_key).decrypt(sealed.ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "stored secret cannot be decrypted with the current keys"
            ) from None

    def rewrap(self, wrapped_key: str) -> str:
        """Re-wrap a data key under the primary key; the ciphertext stays as it is."""
        return self._master.rotate(wrapped_key.encode()).decode()
