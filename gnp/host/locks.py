"""Locks held with flock(2), across processes and across threads alike: each holder opens
the lock file afresh, and a lock belongs to an open file, not to a process.

The kernel drops such a lock when its holder dies, so a file of :data:`NAMES` is never
stale: the janitor, which removes ``*.lock`` files left by killed git processes, leaves
these alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path

WORKTREES = "gnp-worktree.lock"  # worktree add/prune/branch-delete on one repository
FETCH = "gnp-fetch.lock"  # fetches into one mirror of a hub at a URL
NAMES = (WORKTREES, FETCH)


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold the lock at ``path`` (created if missing), waiting for it if need be."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def worktrees(repo: Path) -> Iterator[None]:
    """Worktree bookkeeping (add, prune, branch deletion) on the repository at ``repo``,
    one at a time across processes and threads: libgit2 1.9.7 reports false "already
    checked out" errors when they overlap."""
    with _threads, held(repo / WORKTREES):
        yield


_threads = threading.RLock()  # flock serializes processes; within one, threads wait here
