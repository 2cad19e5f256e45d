"""Is what an ownership record names a worktree gnp made? Asked before the janitor
removes anything a record names.

Theory of operation: ownership records are files in the local repository, and a worker
runs as the same user, so it can write one: a record is a claim, not a proof. The
janitor removes a dead owner's folder whole, kills its work's session and deletes its
branch; believed blindly, a forged record would have it delete any folder the user can
delete. So a record is acted on only if what it names is what
:func:`gnp.process.worktree.create` makes, checked against the disk and the local
repository, never against the record alone:

* its folder is ``ROOT/NAME``, written as such (absolute, no ``..``, no ``.``), for a
  worktree root ``ROOT`` the janitor manages (:func:`gnp.process.worktree.default_root`)
  and the record's own ``NAME``; ROOT is a real folder (not a symbolic link) of this
  user, and the folder, if still there, is a real folder on ROOT's device;
* the folder's ``.git`` is a regular file (not a link) that points at the local
  repository's worktree entry of the same name, ``LOCAL/worktrees/NAME``;
* its branch is ``refs/heads/gnp/WORKER/NAME``.

A folder that is already gone, wherever the record says it was, passes the folder
checks (there is nothing to remove): its entry and branch are what is left, and a dead
worker's delta on that branch is still pushed, or its fallback made. Whatever fails is
reported and left alone.
What this cannot tell apart is a forged record that names a real gnp worktree under its
own name (replacing that worktree's record): the damage is then bounded to gnp's own
worktrees, under its own root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from gnp.git.local import LocalRepo
from gnp.host import files
from gnp.process.owners import Owner

MAX_DOT_GIT = 4096  # "gitdir: PATH\n"


def refusal(local: LocalRepo, owner: Owner, roots: Sequence[Path]) -> str | None:
    """Why the janitor must not act on ``owner``'s record, or None if it names a worktree
    gnp made here (module doc)."""
    if not owner.readable:
        return "the record is not readable JSON"
    if owner.branch is not None and not _own_branch(owner.branch, owner.name):
        return f"it names branch {owner.branch}, not one of gnp's for {owner.name}"
    if owner.claimed is None:
        return None  # no folder named: its entry and branch alone
    return _folder_refusal(local, owner.name, owner.claimed, roots)


def _own_branch(branch: str, name: str) -> bool:
    from gnp.process.worktree import BRANCH_PREFIX

    worker, _, rest = branch.removeprefix(BRANCH_PREFIX).partition("/")
    return branch.startswith(BRANCH_PREFIX) and bool(worker) and rest == name


def _folder_refusal(local: LocalRepo, name: str, claimed: str, roots: Sequence[Path]) -> str | None:
    where = f"folder {claimed}"
    parts = PurePosixPath(claimed).parts
    if not os.path.isabs(claimed) or ".." in parts or os.path.normpath(claimed) != claimed:
        return f"{where} is not written as an absolute path without '..'"
    folder = Path(claimed)
    if folder.name != name:
        return f"{where} is not named as the record is"
    if not os.path.lexists(folder):
        return None  # gone already, wherever it was: nothing of it to remove
    root = next((r for r in roots if Path(os.path.abspath(r)) == folder.parent), None)
    if root is None:
        shown = ", ".join(str(r) for r in roots)
        return f"{where} is not inside the worktree root the janitor manages ({shown})"
    try:
        root_info = os.lstat(folder.parent)
    except OSError:
        return f"its worktree root {folder.parent} cannot be looked at"
    if not stat.S_ISDIR(root_info.st_mode) or root_info.st_uid != os.getuid():
        return f"its worktree root {folder.parent} is not a folder of this user (a link?)"
    try:
        info = os.lstat(folder)
    except OSError as exc:
        return f"{where} cannot be looked at ({exc.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return f"{where} is not a folder (a link, or a file)"
    if info.st_dev != root_info.st_dev:
        return f"{where} is on another device than its root"
    try:
        dot_git = files.read_bounded(folder / ".git", MAX_DOT_GIT, follow=False).decode()
    except (OSError, ValueError):
        return f"{where} holds no .git file of a worktree"
    gitdir = dot_git.strip().removeprefix("gitdir:").strip()
    entry = local.path / "worktrees" / name
    if not dot_git.startswith("gitdir:") or os.path.realpath(gitdir) != os.path.realpath(entry):
        return f"{where} is not a worktree of this repository's entry {name}"
    return None
