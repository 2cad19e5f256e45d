"""The owner's changes to the hub: workers' keys, declared merge types and grants.

These are commits on main by the hub's owner (compare-and-swap, recomputed if main
moved), never a worker's push: a worker cannot register itself, nor grant itself
authority. A grant's commit changes ``.gnp/grants.json`` alone, and says whose grant it
is in a trailer (``Gnp-Grant: WORKER``), as a keygen's says ``Gnp-Keyring: WORKER``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gnp.core import canonical, pointer
from gnp.core.diff import TYPES
from gnp.core.errors import GnpError, Malformed, UsageError
from gnp.core.grants import EVERY_FILE, Grant
from gnp.core.layout import GRANTS_FILE, KEYRING_FILE, TYPES_FILE
from gnp.core.limits import check_file, check_worker
from gnp.core.signing import public_key_text
from gnp.git.address import parse
from gnp.git.hub import Hub, State
from gnp.git.remote import HostKeepsMain
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
        with _beside_the_hub(hub, ["keygen", worker, *(["--force"] if force else [])]):
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

    with _beside_the_hub(hub, ["declare", file, path, kind]):
        hub.commit_on_main(add_type, f"gnp declare: {file}:{path} is {_article(kind)} {kind}\n")


def _article(kind: str) -> str:
    return "an" if kind[:1] in "aeiou" else "a"


def grant(hub: Hub, worker: str, *, authority: int = 0, files: Sequence[str] = ()) -> Grant:
    """Give ``worker`` the highest authority it may claim and the state files (globs) it
    may write, every file if none is named; a grant replaces the worker's last one."""
    check_worker(worker)
    try:
        given = Grant(authority, tuple(dict.fromkeys(files)) or (EVERY_FILE,))
    except Malformed as exc:
        raise UsageError(str(exc)) from None

    def put(base: State) -> dict[str, bytes | None]:
        if worker not in base.keyring_text:
            raise UsageError(
                f"{worker} has no key on this hub; run 'gnp keygen {worker} --hub "
                f"{hub.url or hub.path}' first"
            )
        return {GRANTS_FILE: canonical.encode_pretty(base.grants.replaced(worker, given).to_json())}

    subject = f"gnp grant: {worker} may claim {given.describe()}"
    options = ["--authority", str(authority)] if authority else []
    options += [arg for glob in files for arg in ("--files", glob)]
    with _beside_the_hub(hub, ["grant", worker, *options]):
        hub.commit_on_main(put, f"{subject}\n\nGnp-Grant: {worker}\n")
    return given


@contextmanager
def _beside_the_hub(hub: Hub, command: list[str]) -> Iterator[None]:
    """A host that keeps main for its engine refused the owner's commit: say what to run
    on that host, with the hub's path there if the URL tells it."""
    try:
        yield
    except HostKeepsMain as exc:
        path = _path_on_host(hub.url or str(hub.path))
        line = shlex.join(["gnp", command[0], "--hub", path or "PATH", *command[1:]])
        where = "" if path else ", PATH being the hub's bare repository there"
        raise GnpError(
            f"the hub refused to move main ({exc.problem}); its host keeps main for the "
            f"engine beside it: run this on the hub's host{where}: {line}"
        ) from None


def _path_on_host(url: str) -> str | None:
    """The hub's path on its host, where the URL names it (ssh, file); not over HTTP or
    git://, whose server maps URLs to folders of its own choosing."""
    address = parse(url)
    if address.scheme == "file":
        return address.path
    if not address.ssh:
        return None
    path = address.path
    if "://" in url:
        return path[1:] if path.startswith("/~") else path or None
    return path if path.startswith(("/", "~")) else f"~/{path}"
