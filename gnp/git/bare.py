"""Bare repositories that gnp keeps for itself under ``$GNP_HOME``: a worker's local
repository for a hub, and the mirror of a hub at a URL. Each has the hub as its remote
``hub``, and is made aside and renamed into place, so that two processes making the
same one at once end up with one between them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pygit2

from gnp.host import keys

REMOTE = "hub"


def make_bare(
    path: Path,
    url: str,
    alternates: Path | None = None,
    fill: Callable[[Path], None] | None = None,
) -> bool:
    """A bare repository at ``path`` whose remote ``hub`` is ``url`` (borrowing the
    objects at ``alternates``). Made aside and renamed into place, so that concurrent
    first uses, by processes or threads, make one repository between them. ``fill`` runs
    on it before the rename; if it raises, nothing is left behind. True if this call's
    repository is the one now in place."""
    keys.private_folder(path.parent)  # under $GNP_HOME: this user's alone
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        repo = pygit2.init_repository(str(tmp), bare=True, initial_head="main")
        os.chmod(tmp, 0o700)  # whatever the umask made it
        if alternates is not None:
            (tmp / "objects" / "info" / "alternates").write_text(f"{alternates}\n")
        repo.remotes.create(REMOTE, url)
        if fill is not None:
            fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, path)
    except OSError:  # another made it first
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True
