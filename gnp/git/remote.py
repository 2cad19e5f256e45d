"""A hub reached over git (a GitHub repository, ``git://``, ``ssh://``, ``file://``).

Theory of operation: this process keeps a bare mirror of the hub's ``main`` and inbox
refs under ``$GNP_HOME/mirrors/``, reads everything from the mirror (the same code as for
a local hub), and writes only by pushes whose per-ref results are checked:

* advancing ``main`` is a non-forced push of a commit whose parent is the base: the hub
  accepts it only as a fast-forward, so if ``main`` moved, the push is refused and the
  engine settles the frame again on the new ``main`` (compare-and-swap over the wire);
* a delta is a push that creates ``refs/gnp/inbox/<worker>/<id>``;
* a consumed inbox ref is removed by a push that deletes it.

The hub must let the engine's pushes to ``main`` through and keep everyone else's out:
on GitHub, a branch protection rule that admits only the engine's identity.

A URL's secret (``https://user:token@host/...``) stays in this process's memory
(:mod:`gnp.git.address`): the mirror's folder name and its remote are made from the URL
without it, and the host gets it only when it asks (:mod:`gnp.git.credentials`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pygit2

from gnp.core.errors import GnpError, UsageError
from gnp.core.layout import INBOX_REFS, MAIN, PROTOCOL_FILE
from gnp.git import userconfig
from gnp.git.address import Address, clean, parse
from gnp.git.bare import REMOTE, make_bare
from gnp.git.credentials import answering
from gnp.git.hub import Hub
from gnp.git.push import UNREPORTED, push
from gnp.git.trees import read
from gnp.host import keys, locks

OUTGOING = "refs/gnp-outgoing/"


class HostKeepsMain(GnpError):
    """The hub's host refused a push to main that was a fast-forward: its hooks keep
    main for an engine beside it."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem  # what the host said


class RemoteHub(Hub):
    address: Address

    @classmethod
    def open_url(cls, url: str) -> RemoteHub:
        address = parse(url)
        path = mirror_path(address.url)
        # A mirror's first fetch happens before it is renamed into place: a URL that
        # cannot be reached, or that is not a gnp hub, leaves no mirror; one in place has
        # fetched a hub at least once.
        fetched = not (path / "HEAD").exists() and make_bare(
            path, address.url, fill=lambda made: cls._at(made, address)._check()
        )
        hub = cls._at(path, address)
        if not fetched:
            hub._check()
        return hub

    def _check(self) -> None:
        """Fetch, and make sure what was fetched is a gnp hub."""
        self.refresh()
        if MAIN not in self.repo.references or read(self.main().tree, PROTOCOL_FILE) is None:
            raise UsageError(f"{self.url} is not a gnp hub (no {PROTOCOL_FILE} on its main)")

    @classmethod
    def _at(cls, path: Path, address: Address) -> RemoteHub:
        userconfig.check(path)  # libgit2 reads it on opening: a FIFO there would hang us
        hub = cls(path, pygit2.Repository(str(path)))
        hub.url = address.url
        hub.address = address
        return hub

    def refresh(self) -> None:
        try:
            with (
                locks.held(self.path / locks.FETCH),  # fetches would fight over ref locks
                answering(self.address) as answers,
            ):
                self.repo.remotes[REMOTE].fetch(
                    ["+refs/heads/main:refs/heads/main", f"+{INBOX_REFS}*:{INBOX_REFS}*"],
                    prune=pygit2.enums.FetchPrune.PRUNE,
                    callbacks=answers,
                )
        except pygit2.GitError as exc:
            raise UsageError(f"cannot reach the hub {self.url}: {exc}") from None

    def _push(self, refspec: str, target: str, *, transport_errors: bool = False) -> str | None:
        """Push one refspec; None if the hub took it, else its reason (a transport error
        too, unless ``transport_errors``: then it raises)."""
        try:
            return push(self.repo.remotes[REMOTE], refspec, target, self.address)
        except (pygit2.GitError, OSError) as exc:
            if transport_errors:
                raise
            return str(exc)

    def _push_commit(
        self, commit: pygit2.Oid, target: str, *, transport_errors: bool = False
    ) -> str | None:
        staging = OUTGOING + target.removeprefix("refs/")
        self.repo.references.create(staging, commit, force=True)
        try:
            return self._push(f"{staging}:{target}", target, transport_errors=transport_errors)
        finally:
            self.repo.references.delete(staging)

    def create_inbox_ref(self, name: str, commit: pygit2.Oid) -> None:
        problem = self._push_commit(commit, name)
        if problem is None:
            return
        self.refresh()
        if name in self.repo.references:
            return  # the same delta (same id) is already waiting: one delta, one ref
        raise GnpError(f"the hub refused {name}: {problem}")

    def delete_ref(self, name: str, expected: pygit2.Oid) -> bool:
        if self._push(f":{name}", name) is not None:
            return False
        if name in self.repo.references:
            self.repo.references.delete(name)
        return True

    def advance_main(self, base: pygit2.Oid, new: pygit2.Oid, message: str) -> bool:
        if self.main().id != base:
            return False
        try:
            problem = self._push_commit(new, MAIN, transport_errors=True)
        except (pygit2.GitError, OSError):
            self.refresh()  # not pushed (the network, a lock held): the caller tries again
            return False
        if problem is not None:
            self.refresh()
            if problem != UNREPORTED and self.main().id == base:
                # The hub itself said no, and not because main moved: retrying cannot help.
                raise HostKeepsMain(
                    f"the hub refused to move main ({problem}); a hub whose update hook keeps "
                    "main for its engine (git daemon, ssh, smart HTTP) lets only an engine "
                    "beside it do that: run this on the hub's host, with --hub set to its path",
                    problem,
                )
            return False  # main moved on the hub: the caller recomputes
        self.repo.lookup_reference(MAIN).set_target(new, message)
        return True


def mirror_path(url: str) -> Path:
    """The mirror of the hub at ``url``, named by the URL without its secret."""
    return keys.home() / "mirrors" / f"{hashlib.sha256(clean(url).encode()).hexdigest()[:24]}.git"
