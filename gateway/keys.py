"""Key material: from settings in production, from the data folder for `reglink up`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from events import sealing
from events.errors import Misconfigured
from gateway.settings import Settings
from store.secrets import generate_key

SEALING_FILE = "sealing.keys"
STORE_FILE = "store.keys"


GENERATE_HINT = (
    "run `reglink up` once to generate keys into the data folder, or set "
    'REGLINK_SEALING_KEYS (generate: python -c "from events.sealing import '
    'generate_private_key as g; print(g())") and REGLINK_STORE_KEYS (generate: '
    'python -c "from store.secrets import generate_key as g; print(g())")'
)  # the recipe docker-compose.yml also gives


class MissingKeys(Misconfigured):
    """Neither settings nor the data folder hold the keys this process needs."""

    def __init__(self, message: str) -> None:
        super().__init__(message, GENERATE_HINT)


@dataclass(frozen=True)
class Keys:
    unsealing: tuple[X25519PrivateKey, ...]  # empty in an API that only seals
    public: X25519PublicKey
    store: tuple[str, ...]


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


def _read_or_create(path: Path, make: Callable[[], str], create: bool) -> tuple[str, ...]:
    if path.exists():
        return _split(path.read_text())
    if not create:
        raise MissingKeys(f"no keys: REGLINK_SEALING_KEYS/REGLINK_STORE_KEYS unset and no {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make() + "\n")
    return _split(path.read_text())


def load_keys(settings: Settings, *, create: bool = False) -> Keys:
    if settings.sealing_keys is not None:
        sealing_texts = _split(settings.sealing_keys.get_secret_value())
    elif settings.sealing_public_key and not (settings.data_dir / SEALING_FILE).exists():
        sealing_texts = ()
    else:
        sealing_texts = _read_or_create(
            settings.data_dir / SEALING_FILE, sealing.generate_private_key, create
        )
    unsealing = tuple(sealing.load_private_key(text) for text in sealing_texts)
    if settings.sealing_public_key:
        public = sealing.load_public_key(settings.sealing_public_key)
    elif unsealing:
        public = unsealing[0].public_key()
    else:
        raise MissingKeys("no sealing key: set REGLINK_SEALING_KEYS or REGLINK_SEALING_PUBLIC_KEY")
    if settings.store_keys is not None:
        store = _split(settings.store_keys.get_secret_value())
    else:
        store = _read_or_create(settings.data_dir / STORE_FILE, generate_key, create)
    return Keys(unsealing=unsealing, public=public, store=store)
