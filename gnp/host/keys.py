"""Where one user's gnp things live, ``$GNP_HOME`` (default ``~/.gnp``), and the private
keys kept there: ``$GNP_HOME/keys/<hub id>/<worker>.pem``.

Keys are made here (the core signs and verifies, but draws no randomness), written with
mode 0600 in a 0700 folder, and never overwritten by accident: rotating a key is an
explicit ``--force``. The same folder holds each hub's local repository and mirror, and
the relay's socket.

Private whatever the umask: ``$GNP_HOME`` and every folder gnp makes in it are made
0700 by :func:`private_folder`, which sets the mode with chmod (``mkdir``'s mode is
masked by the umask, and ignored for a folder that exists), and key files 0600 with
fchmod. A ``$GNP_HOME`` that already exists open to others (a world-writable one, say)
is tightened to 0700 when gnp uses it: what it holds is this user's private keys. One
that belongs to another user is refused: chmod would fail, and its owner could read
or replace the keys.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gnp.core.errors import GnpError, UsageError
from gnp.core.limits import check_worker
from gnp.core.signing import SigningKey

HOME = "GNP_HOME"


def home() -> Path:
    """``$GNP_HOME``, or ``~/.gnp``. The relay's client (``gnp_cli.relay``) reads it too,
    with the standard library alone; a test holds the two to one answer."""
    return Path(os.environ.get(HOME) or Path("~", ".gnp").expanduser())


def private_folder(path: Path) -> Path:
    """``path``, a folder made if need be, with it and every folder between it and
    ``$GNP_HOME`` (which included) this user's alone: mode 0700 (module doc). A folder
    outside ``$GNP_HOME`` is made private itself, its parents left as they are."""
    top = home()
    chain = [top, *_between(top, path)] if path == top or top in path.parents else [path]
    for folder in chain:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _make_private(folder)
    return path


def _between(top: Path, path: Path) -> list[Path]:
    rel = path.relative_to(top).parts
    return [top.joinpath(*rel[: i + 1]) for i in range(len(rel))]


def _make_private(folder: Path) -> None:
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise UsageError(
            f"{folder} belongs to another user (uid {info.st_uid}); "
            f"set {HOME} to a folder of your own"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(folder, 0o700)
        except OSError as exc:
            raise UsageError(f"cannot make {folder} private (0700): {exc.strerror}") from None


def generate() -> SigningKey:
    """A new Ed25519 key pair, from the operating system's randomness."""
    return SigningKey(Ed25519PrivateKey.generate())


def key_path(hub_id: str, worker: str) -> Path:
    return home() / "keys" / hub_id / f"{check_worker(worker)}.pem"


def save(hub_id: str, worker: str, key: SigningKey, *, force: bool = False) -> Path:
    path = key_path(hub_id, worker)
    if path.exists() and not force:
        raise UsageError(
            f"{worker} already has a key for this hub at {path}; pass --force to replace it"
        )
    private_folder(path.parent)
    tmp = _staged(path, key.to_pem())
    try:
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if another keygen got there first: never overwrite
    except FileExistsError:
        raise UsageError(
            f"{worker} got a key for this hub at {path} meanwhile; pass --force to replace it"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write the key to {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def put_back(path: Path, earlier: bytes | None, *, ours: bytes) -> None:
    """Undo a :func:`save` of ``ours`` at ``path``: the key it replaced, or none. A key
    saved there since by another keygen is left alone."""
    with contextlib.suppress(OSError):
        if path.read_bytes() != ours:
            return
    if earlier is None:
        path.unlink(missing_ok=True)
        return
    os.replace(_staged(path, earlier), path)


def _staged(path: Path, data: bytes) -> Path:
    """``data`` in a new file beside ``path``, readable by its owner only, to be moved
    into place: nobody ever sees a key half written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask, and before a byte of the key is in it
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return tmp


def held() -> list[tuple[str, str]]:
    """Every (hub id, worker) whose private key is in ``$GNP_HOME``, by the files' names
    alone: no key is read."""
    found = []
    with contextlib.suppress(OSError):
        for path in sorted((home() / "keys").glob("*/*.pem")):
            worker = path.name.removesuffix(".pem")
            with contextlib.suppress(GnpError):
                found.append((path.parent.name, check_worker(worker)))
    return found


def load(hub_id: str, worker: str, hub: str = "HUB") -> SigningKey:
    """``worker``'s private key for hub ``hub_id``; ``hub`` names the hub in the hint."""
    path = key_path(hub_id, worker)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"no key for worker {worker!r} on this hub (looked in {path}); "
            f"create one with 'gnp keygen {worker} --hub {hub}'"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the key {path}: {exc.strerror}") from None
    return SigningKey.from_pem(data)
