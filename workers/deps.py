"""What handlers receive instead of reaching for globals; built by the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dramatiq
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from store.secrets import SecretBox
from store.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class WorkerDeps:
    uow: UnitOfWorkFactory
    broker: dramatiq.Broker
    box: SecretBox
    unsealing_keys: Sequence[X25519PrivateKey]
    insecure_hosts: Sequence[str] = ()
    allowed_networks: Sequence[str] = ()
