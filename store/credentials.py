"""Registry secrets: stored sealed, opened only by workers at the moment of use."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from store.secrets import Sealed, SecretBox
from store.tables import Credential


def store_secret(
    session: Session, box: SecretBox, registry_id: str, host: str, secret: str
) -> None:
    session.add(_row(registry_id, host, box.encrypt(secret)))


def replace_secret(session: Session, registry_id: str, host: str, sealed: Sealed | None) -> None:
    """The registry's secret becomes `sealed` (or none); the old one goes with its data key."""
    destroy_secret(session, registry_id)
    session.flush()
    if sealed is not None:
        session.add(_row(registry_id, host, sealed))


def _row(registry_id: str, host: str, sealed: Sealed) -> Credential:
    return Credential(
        id=str(uuid.uuid4()),
        registry_id=registry_id,
        host=host,
        wrapped_key=sealed.wrapped_key,
        ciphertext=sealed.ciphertext,
    )


def open_secret(session: Session, box: SecretBox, registry_id: str, host: str) -> str | None:
    """The secret, only if it was entered for this host: stored credentials are never
    sent to a host they were not entered for."""
    row = session.exec(select(Credential).where(Credential.registry_id == registry_id)).first()
    if row is None or row.host != host:
        return None
    return box.decrypt(Sealed(row.wrapped_key, row.ciphertext))


def destroy_secret(session: Session, registry_id: str) -> None:
    """Crypto-shred: the row holds the only copy of the wrapped data key."""
    for row in session.exec(select(Credential).where(Credential.registry_id == registry_id)):
        session.delete(row)
