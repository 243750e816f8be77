"""`GET /v1/keys/sealing`: the key other services seal secrets to before they publish a
command straight to the broker."""

from __future__ import annotations

from fastapi import APIRouter

from events.sealing import public_key_text
from gateway.bootstrap import Container


def keys_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/keys")

    @router.get("/sealing")
    def sealing_key() -> dict[str, str]:
        """The workers' public key, for services that publish commands to the broker."""
        return {
            "algorithm": "HPKE-X25519-HKDF-SHA256-ChaCha20Poly1305",
            "public_key": public_key_text(container.keys.public),
        }

    return router
