"""A worker's local repository for one hub: where its worktrees and branches live.

Workers never check out the hub and never create branches in it. Each machine keeps,
per hub, a bare repository under ``$GNP_HOME/repos/<hub id>.git`` with the hub as its
remote ``hub``. For a hub on a local path it borrows the hub's objects (git's
alternates), so fetching ``main`` copies nothing. Deltas leave it only by a push to the
worker's own inbox ref, and every push's per-ref result is checked: libgit2 raises only
on transport errors, and reports a rejected ref through a callback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pygit2

from . import keys
from .errors import GnpError
from .hub import Hub

REMOTE = "hub"
HUB_MAIN = "refs/remotes/hub/main"


class _PushResults(pygit2.RemoteCallbacks):
    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, str | None] = {}

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.results[refname] = message


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
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            repo = pygit2.init_repository(str(tmp), bare=True, initial_head="main")
            hub_objects = Path(hub.repo.path) / "objects"
            (tmp / "objects" / "info" / "alternates").write_text(f"{hub_objects.resolve()}\n")
            repo.remotes.create(REMOTE, str(Path(hub.repo.path).resolve()))
            try:
                os.rename(tmp, path)  # atomic: concurrent first uses make one repository
            except OSError:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        return cls(hub, pygit2.Repository(str(path)))

    def fetch_main(self) -> pygit2.Commit:
        """The hub's main, fetched now."""
        self.repo.remotes[REMOTE].fetch([f"+refs/heads/main:{HUB_MAIN}"])
        commit = self.repo[self.repo.lookup_reference(HUB_MAIN).target]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def push(self, source: str, target: str) -> None:
        """Push ``source`` to the hub's ``target`` ref; raise unless the hub took it."""
        callbacks = _PushResults()
        try:
            self.repo.remotes[REMOTE].push([f"{source}:{target}"], callbacks=callbacks)
        except pygit2.GitError as exc:
            raise GnpError(f"push to the hub failed: {exc}") from None
        if target not in callbacks.results:
            raise GnpError(f"the hub did not report on {target}; the push may not have landed")
        if callbacks.results[target] is not None:
            raise GnpError(f"the hub refused {target}: {callbacks.results[target]}")
