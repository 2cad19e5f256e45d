"""The owner's changes to the hub: workers' keys and declared merge types.

These are commits on main by the hub's owner (compare-and-swap, recomputed if main
moved), never a worker's push: a worker cannot register itself.
"""

from __future__ import annotations

from pathlib import Path

from gnp.core import canonical, pointer
from gnp.core.diff import TYPES
from gnp.core.errors import UsageError
from gnp.core.layout import KEYRING_FILE, TYPES_FILE
from gnp.core.limits import check_file, check_worker
from gnp.core.signing import public_key_text
from gnp.git.hub import Hub, State
from gnp.host import keys


def register(hub: Hub, worker: str, *, force: bool = False) -> Path:
    """Make ``worker``'s key pair, keep the private key locally, put the public one on main."""
    check_worker(worker)
    state = hub.state()
    if worker in state.keyring_text and not force:
        raise UsageError(f"{worker} already has a key on this hub; pass --force to replace it")
    key = keys.generate()
    earlier = keys.key_path(state.hub_id, worker)
    replaced = earlier.read_bytes() if force and earlier.exists() else None
    path = keys.save(state.hub_id, worker, key, force=force)
    line = public_key_text(key.public_key, worker)

    def add_key(base: State) -> dict[str, bytes | None]:
        return {KEYRING_FILE: canonical.encode_pretty({**base.keyring_text, worker: line})}

    try:
        hub.commit_on_main(add_key, f"gnp keygen: register {worker}\n\nGnp-Keyring: {worker}\n")
    except BaseException:
        # Not registered: the keys stay as they were. A new key left behind would make a
        # retry ask for --force; a replaced one would leave the worker unable to sign.
        # Unless the push landed after all (an interrupt, a lock after it): then the new
        # key is the one the keyring holds, and stays; so does it when in doubt.
        if _surely_not_registered(hub, worker, line):
            keys.put_back(path, replaced, ours=key.to_pem())
        raise
    return path


def _surely_not_registered(hub: Hub, worker: str, line: str) -> bool:
    try:
        hub.refresh()
        return hub.state().keyring_text.get(worker) != line
    except Exception:  # cannot tell
        return False


def declare(hub: Hub, file: str, path: str, kind: str) -> None:
    """Declare that ``path`` in ``file`` is a counter, an append-only list or a set."""
    check_file(file)
    pointer.parse(path)
    if kind not in TYPES:
        raise UsageError(f"merge type {kind!r} is unknown; use one of {', '.join(sorted(TYPES))}")

    def add_type(base: State) -> dict[str, bytes | None]:
        types = {f: dict(t) for f, t in base.types.items()}
        types.setdefault(file, {})[path] = kind
        return {TYPES_FILE: canonical.encode_pretty(types)}

    hub.commit_on_main(add_type, f"gnp declare: {file}:{path} is {_article(kind)} {kind}\n")


def _article(kind: str) -> str:
    return "an" if kind[:1] in "aeiou" else "a"
