"""A worker's local repository for one hub: where its worktrees and branches live.

Workers never check out the hub and never create branches in it. Each machine keeps,
per hub, a bare repository under ``$GNP_HOME/repos/<hub id>.git`` with the hub as its
remote ``hub``. For a hub on a local path it borrows the hub's objects (git's
alternates) and reads ``main`` in-process, so nothing is copied or fetched. Deltas
leave it only for the worker's own inbox ref. To a hub at a URL that is a push whose
per-ref result is checked (libgit2 raises only on transport errors, and reports a
rejected ref through a callback), answering the host as :mod:`gnp.git.credentials`
says. To a hub on a local path it is a hand-over in-process:
the few objects the hub lacks, children first, then the ref, refused like a push would
be if the ref already holds another delta.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gnp.core.errors import GnpError
from gnp.git import userconfig
from gnp.git.bare import make_bare
from gnp.git.hub import Hub
from gnp.git.push import push
from gnp.git.remote import RemoteHub
from gnp.host import keys


@dataclass(frozen=True, slots=True)
class LocalRepo:
    hub: Hub
    repo: pygit2.Repository

    @property
    def path(self) -> Path:
        return Path(self.repo.path)

    @classmethod
    def for_hub(cls, hub: Hub) -> LocalRepo:
        path = keys.home() / "repos" / f"{hub.state().hub_id}.git"
        if not (path / "HEAD").exists():
            hub_objects = (Path(hub.repo.path) / "objects").resolve()
            make_bare(path, hub.url or str(Path(hub.repo.path).resolve()), hub_objects)
        userconfig.check(path)  # libgit2 reads it on opening: a FIFO there would hang us
        return cls(hub, pygit2.Repository(str(path)))

    def fetch_main(self) -> pygit2.Commit:
        """The hub's main now. A hub on a local path is read in-process: its objects are
        ours through alternates, so there is nothing to fetch and no ref to contend for."""
        self.hub.refresh()
        commit = self.repo.get(self.hub.main().id)
        assert isinstance(commit, pygit2.Commit)
        return commit

    def push(self, source: str, target: str, *, tries: int = 10) -> None:
        """Deliver ``source`` to the hub's ``target`` ref; raise unless the hub took it.

        For a hub at a URL, retries what concurrency makes transient: the transport
        lists the hub's refs first, and the engine may delete one of them meanwhile.
        """
        if not isinstance(self.hub, RemoteHub):
            self._hand_over(source, target)
            return
        # To the URL this process was given (not the one this repository was first made
        # for: the same hub may be reached another way since), with its credentials.
        remote = self.repo.remotes.create_anonymous(self.hub.address.url)
        for attempt in range(tries):
            try:
                problem = push(remote, f"{source}:{target}", target, self.hub.address)
            except (pygit2.GitError, OSError) as exc:
                if attempt == tries - 1:
                    raise GnpError(f"push to the hub failed: {exc}") from None
                time.sleep(0.005 * (attempt + 1))
                continue
            if problem is not None:
                raise GnpError(f"the hub refused {target}: {problem}")
            return

    def _hand_over(self, source: str, target: str) -> None:
        """A push to a hub on a local path, done in-process: the objects the hub lacks
        go into its object database (children before parents, so no reader ever sees
        an object whose parts are missing), then the ref is created.

        libgit2's local push would do the same but first walks every tree of the hub's
        main to find what the hub already has, a cost that grows with the hub's history
        (the ledger, the archive). It runs no hooks either, so nothing is lost.
        """
        commit = self.repo.lookup_reference(source).peel(pygit2.Commit)
        _copy_missing(self.repo, self.hub.repo, commit.id)
        self.hub.create_inbox_ref(target, commit.id)


def _copy_missing(src: pygit2.Repository, dst: pygit2.Repository, oid: pygit2.Oid) -> None:
    """Copy ``oid`` and what it refers to, skipping whatever ``dst`` already holds:
    for a delta commit on main, that is the commit, the trees on the path to the delta
    file, and the file."""
    if dst.odb.exists(oid):
        return
    obj = src[oid]
    if isinstance(obj, pygit2.Commit):
        _copy_missing(src, dst, obj.tree_id)
        for parent in obj.parent_ids:
            _copy_missing(src, dst, parent)
    elif isinstance(obj, pygit2.Tree):
        for entry in obj:
            if entry.filemode != pygit2.enums.FileMode.COMMIT:  # a submodule: not ours
                _copy_missing(src, dst, entry.id)
    kind, data = src.odb.read(oid)
    dst.odb.write(kind, data)
