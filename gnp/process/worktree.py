"""Isolated worktrees for workers, and the traps that always remove them.

Theory of operation: a worker gets a worktree of ``main`` (state files only, no
``.gnp/``) on a branch of its own, ``gnp/<worker>/<token>``, in its local repository,
by default on tmpfs; each file in it is main's blob byte for byte, whatever the user's
git configuration would make of it (:func:`check_out`), and a snapshot of the files is
kept before the work starts (:mod:`gnp.process.snapshot`). Whatever happens, the trap
removes the directory, prunes the worktree entry and deletes the branch: on normal exit
and exceptions (the context manager), on SIGTERM (turned into ``SystemExit`` so the
stack unwinds through it), on SIGINT (``KeyboardInterrupt``, likewise) and at
interpreter exit (``atexit``). Only SIGKILL escapes; for that, an ownership record
(:mod:`gnp.process.owners`) lets the janitor tell a dead owner from a live one and
clean up after it.

libgit2 1.9.7 (pygit2 1.21) reports false "already checked out" and "current HEAD of a
linked repository" errors when processes add and prune worktrees of one repository at
once; worktree add/prune and branch deletion are therefore serialized per repository
(:func:`gnp.host.locks.worktrees`), and those two errors are retried.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import pygit2
from pygit2.callbacks import git_checkout_options
from pygit2.enums import CheckoutStrategy

from gnp.core.errors import GnpError
from gnp.git import userconfig
from gnp.git.local import LocalRepo
from gnp.host import keys, locks
from gnp.process import owners, snapshot
from gnp.process.snapshot import NOTHING, Snapshot

BRANCH_PREFIX = "refs/heads/gnp/"
_RETRYABLE = ("already checked out", "current HEAD of a linked", "is locked")
T = TypeVar("T")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


def default_root() -> Path:
    """Where worktrees go: ``$GNP_WORKTREES``, else tmpfs if there is one, else the temp dir."""
    configured = os.environ.get("GNP_WORKTREES")
    if configured:
        return Path(configured)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"gnp-{os.getuid()}"
    return Path(tempfile.gettempdir()) / f"gnp-{os.getuid()}"


def _retry(action: Callable[[], T], tries: int = 50) -> T:
    for attempt in range(tries):
        try:
            return action()
        except pygit2.GitError as exc:
            if attempt == tries - 1 or not any(s in str(exc) for s in _RETRYABLE):
                raise
            time.sleep(0.002 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class Worktree:
    local: LocalRepo
    worker: str
    name: str
    path: Path
    branch: str
    base: pygit2.Commit  # main when the worktree was made
    start: pygit2.Oid  # the worktree's first commit: base without .gnp/
    before: Snapshot = NOTHING  # its files as checked out, before the work
    removed: bool = False
    keep_branch: bool = False  # set when the branch holds a delta that is not yet pushed

    def remove(self) -> None:
        """Remove the directory, the worktree entry, the branch and the record. Idempotent."""
        if self.removed:
            return
        remove_worktree(self.local, self.name, self.path, None if self.keep_branch else self.branch)
        owners.remove(self.local.path, self.name)
        self.removed = True
        _LIVE.pop(self.name, None)


def remove_worktree(local: LocalRepo, name: str, path: Path | None, branch: str | None) -> None:
    repo = local.repo
    if path is not None:
        remove_tree(path)
    with locks.worktrees(local.path):
        if name in repo.list_worktrees():
            _retry(lambda: repo.lookup_worktree(name).prune(True))
        if branch is not None and branch in repo.references:
            _retry(lambda: repo.references.delete(branch))


def remove_tree(path: Path) -> None:
    """Remove the folder at ``path`` as far as possible, never raising. A folder the work
    left without permissions (``chmod 0``) is made its owner's again first: left in place,
    it would outlive the worktree's entry and record, and nothing would ever remove it."""
    top, reopened = str(path), set[str]()

    def reopen(function: Callable[..., object], failed: str, exc_info: ExcInfo) -> None:
        if not isinstance(exc_info[1], PermissionError):
            return
        with contextlib.suppress(OSError):
            if failed != top:  # what holds the worktree is not ours to change
                os.chmod(os.path.dirname(failed), 0o700)  # to remove what is in it
            if os.path.isdir(failed) and not os.path.islink(failed):
                if failed not in reopened:  # once: a folder chmod cannot open stays
                    reopened.add(failed)
                    os.chmod(failed, 0o700)  # to list it
                    shutil.rmtree(failed, onerror=reopen)
            elif failed != top:
                function(failed)

    shutil.rmtree(path, onerror=reopen)


def create(
    local: LocalRepo,
    worker: str,
    *,
    root: Path | None = None,
    token: str | None = None,
    frame: int = 0,
) -> Worktree:
    """A fresh worktree of the hub's main for ``worker``, with its trap set; ``token``
    and ``frame`` name a frame's run in its ownership record, for the janitor."""
    base = local.fetch_main()
    name = f"{worker}-{os.getpid()}-{secrets.token_hex(4)}"
    root = root or default_root()
    keys.private_folder(root)
    path = root / name
    branch = f"{BRANCH_PREFIX}{worker}/{name}"
    tree = local.repo.TreeBuilder(base.tree)
    if tree.get(".gnp") is not None:
        tree.remove(".gnp")  # workers see state, never the protocol's files
    sig = pygit2.Signature("gnp", "gnp@gnp.invalid")
    start = local.repo.create_commit(
        None, sig, sig, f"worktree of {base.id}", tree.write(), [base.id]
    )
    wt = Worktree(local, worker, name, path, branch, base, start)
    owners.write(
        local.path, name, worker=worker, path=path, branch=branch, token=token, frame=frame
    )
    _LIVE[name] = wt
    install_traps()
    try:
        userconfig.check(local.path)  # a FIFO there would hang the checkout, and the run
        with locks.worktrees(local.path):
            ref = local.repo.references.create(branch, _empty_commit(local.repo))
            _retry(lambda: local.repo.add_worktree(name, str(path), ref))
        start_commit = local.repo[start]
        assert isinstance(start_commit, pygit2.Commit)
        check_out(local, name, path, start_commit)
        ref.set_target(start)
        wt.before = snapshot.take(path, str(start_commit.tree_id))
    except BaseException:
        wt.remove()
        raise
    return wt


def _empty_commit(repo: pygit2.Repository) -> pygit2.Oid:
    """A commit of nothing, the same every time: what libgit2 checks out when it adds the
    worktree, with its own settings, before :func:`check_out` writes the files with ours."""
    sig = pygit2.Signature("gnp", "gnp@gnp.invalid", 0, 0)
    empty = repo.TreeBuilder().write()
    return repo.create_commit(None, sig, sig, "nothing checked out yet", empty, [])


def check_out(local: LocalRepo, name: str, path: Path, commit: pygit2.Commit) -> None:
    """Write ``commit``'s files into the new worktree ``name`` at ``path``, each its blob
    byte for byte, and its index to match.

    The worktree is opened by its entry in gnp's own repository, a path gnp chose, never
    through the ``.git`` file in the folder, which is the work's to change once it runs.

    libgit2's checkout follows the user's git configuration: ``core.autocrlf``, and the
    ``text``, ``eol`` and ``ident`` attributes of ``core.attributesFile``,
    ``~/.config/git/attributes`` or the system's, rewrite what it writes (with
    ``autocrlf = true`` a state file arrives with CRLF line ends:
    ``tests/process/test_gitconfig.py``). Its checkout option ``disable_filters`` turns
    all of that off for this one checkout; pygit2 does not pass it, so its checkout is
    called here as pygit2's own ``Repository.checkout_tree`` calls it (pinned: pygit2
    1.21). Having libgit2 read no global configuration (``pygit2.settings.search_path``)
    would not do: that setting is the whole process's, so it would race with other
    threads' checkouts and take a remote hub's ``url.insteadOf`` or proxy settings from
    its pushes.
    """
    repo = pygit2.Repository(os.path.join(local.repo.path, "worktrees", name))
    if repo.workdir is None or not os.path.samefile(repo.workdir, path):
        raise GnpError(f"the worktree {name} is not at {path}: run 'gnp janitor --hub HUB'")
    tree = repo[commit.id].peel(pygit2.Tree)
    with git_checkout_options(strategy=CheckoutStrategy.FORCE) as payload:
        payload.checkout_options.disable_filters = 1
        target = pygit2.ffi.new("git_object **")
        pygit2.ffi.buffer(target)[:] = tree._pointer[:]
        payload.check_error(
            pygit2.C.git_checkout_tree(repo._repo, target[0], payload.checkout_options)
        )
    repo.free()


@contextlib.contextmanager
def worktree(local: LocalRepo, worker: str, *, root: Path | None = None) -> Iterator[Worktree]:
    """``with worktree(local, "w") as wt:`` ... the worktree is gone afterwards, always."""
    wt = create(local, worker, root=root)
    try:
        yield wt
    finally:
        wt.remove()


# Traps ------------------------------------------------------------------------------------

_LIVE: dict[str, Worktree] = {}  # this process's worktrees: what its exit trap removes
_at_exit = False
_on_signal = False


def _remove_all() -> None:
    for wt in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            wt.remove()


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `with worktree(...)`


def install_traps() -> None:
    """Remove live worktrees at exit and on SIGTERM. The signal handler can only be set
    from the main thread, so a call from another thread sets the exit trap alone and a
    later call from the main thread still sets the handler."""
    global _at_exit, _on_signal
    if not _at_exit:
        _at_exit = True
        atexit.register(_remove_all)
    if _on_signal or threading.current_thread() is not threading.main_thread():
        return
    _on_signal = True
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)
