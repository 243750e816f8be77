"""`GET /v1/keys/sealing`: the key other services seal secrets to before they publish a
command straight to the broker."""

from __future__ import annotations

from fastapi import APIRouter

from events.sealing import public_key_text
from gateway.api_errors import refusals
from gateway.api_models import SealingKey
from gateway.api_params import STRICT_QUERY
from gateway.bootstrap import Container


def keys_router(container: Container) -> APIRouter:
    router = APIRouter(prefix="/v1/keys", tags=["keys"], dependencies=STRICT_QUERY)

    @router.get("/sealing", operation_id="showSealingKey", responses=refusals(422))
    def sealing_key() -> SealingKey:
        """The workers' public key, for services that publish commands to the broker."""
        return SealingKey(
            algorithm="HPKE-X25519-HKDF-SHA256-ChaCha20Poly1305",
            public_key=public_key_text(container.keys.public),
        )

    return router
