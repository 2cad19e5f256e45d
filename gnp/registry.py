"""Registering a worker's key on the hub: the owner's path, never a worker's push."""

from __future__ import annotations

from pathlib import Path

from . import canonical, keys
from .errors import UsageError
from .hub import Hub, State
from .layout import KEYRING_FILE
from .limits import check_worker
from .signing import SigningKey, public_key_text


def register(hub: Hub, worker: str, *, force: bool = False) -> Path:
    """Make ``worker``'s key pair, keep the private key locally, put the public one on main."""
    check_worker(worker)
    state = hub.state()
    if worker in state.keyring_text and not force:
        raise UsageError(f"{worker} already has a key on this hub; pass --force to replace it")
    key = SigningKey.generate()
    path = keys.save(state.hub_id, worker, key, force=force)
    line = public_key_text(key.public_key, worker)

    def add_key(base: State) -> dict[str, bytes | None]:
        return {KEYRING_FILE: canonical.encode_pretty({**base.keyring_text, worker: line})}

    hub.commit_on_main(add_key, f"gnp keygen: register {worker}\n\nGnp-Keyring: {worker}\n")
    return path
