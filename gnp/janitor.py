"""The janitor: remove what dead workers and crashed engines left behind, and nothing else.

Theory of operation: it removes

* worktrees and ``gnp/`` branches whose owner process is dead (their ownership record
  says which pid, host and process start time), and ``gnp/`` branches and worktree
  entries that no record owns;
* what is left running of a dead owner's work (its record names the work's session):
  killed outright, the owner could not stop it, and it would run on unsupervised;
* inbox refs of deltas already in the ledger (a crashed engine's leftovers);
* git ``*.lock`` files older than a bound, left by killed processes.

It never touches a worktree whose owner is alive, nor one on another host. And it never
drops work: a dead worker's branch whose tip is a signed delta not yet on the hub is
pushed to the inbox first, and if that push fails the branch is kept and reported.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from . import keys, locks, trees
from .errors import GnpError
from .hub import Hub
from .inbox import remove, snapshot
from .layout import INBOX_DIR, parse_ref, ref_name
from .local import LocalRepo
from .worktree import BRANCH_PREFIX, OWNERS, alive, owners, remove_worktree, stop_session

STALE_LOCK_SECONDS = 600


@dataclass
class Sweep:
    removed: list[str] = field(default_factory=list)
    rescued: list[str] = field(default_factory=list)  # deltas pushed on a dead worker's behalf
    kept: list[str] = field(default_factory=list)  # what was left, and why


def sweep(hub: Hub, *, lock_age: float = STALE_LOCK_SECONDS) -> Sweep:
    report = Sweep()
    state = hub.state()
    for item in snapshot(hub):
        named = parse_ref(item.ref)
        if named is not None and state.settled(named[1]) and remove(hub, item):
            report.removed.append(f"inbox ref {item.ref} (already merged)")
    local_path = keys.home() / "repos" / f"{state.hub_id}.git"
    if (local_path / "HEAD").exists():
        _sweep_local(LocalRepo.for_hub(hub), report)
    for repo_path in (Path(hub.repo.path), local_path):
        _sweep_locks(repo_path, lock_age, report)
    return report


def _sweep_local(local: LocalRepo, report: Sweep) -> None:
    repo = local.repo
    # Branches and worktrees first, owner records second: a worker that starts meanwhile
    # writes its record before its branch, so it is either owned or not seen at all.
    branches = [r for r in repo.references if r.startswith(BRANCH_PREFIX)]
    worktrees = list(repo.list_worktrees())
    owned: set[str] = set()
    for owner in owners(local):
        name = owner["name"]
        branch = owner.get("branch")
        if alive(owner):
            owned.add(name)
            if isinstance(branch, str):
                owned.add(branch)
            continue
        work = owner.get("work")
        path = owner.get("path")
        if isinstance(work, dict) and isinstance(work.get("sid"), int) and isinstance(path, str):
            stopped = stop_session(work["sid"], path)  # whatever becomes of its worktree
            if stopped:
                report.removed.append(
                    f"{stopped} process(es) of worktree {name}'s work, left running"
                )
        if isinstance(branch, str) and not _rescue(local, branch, report):
            owned.update((name, branch))
            continue
        remove_worktree(
            local,
            name,
            Path(path) if isinstance(path, str) else None,
            branch if isinstance(branch, str) else None,
        )
        with contextlib.suppress(FileNotFoundError):
            (local.path / OWNERS / f"{name}.json").unlink()
        report.removed.append(
            f"worktree {name} of dead pid {owner.get('pid')}" + (f" at {path}" if path else "")
        )
        if isinstance(branch, str):
            owned.add(branch)  # removed with its worktree: not to be reported again below
    for name in worktrees:
        if name not in owned:
            try:
                wt = repo.lookup_worktree(name)
            except (KeyError, pygit2.GitError):
                continue  # removed above, with its dead owner
            if wt.is_prunable:
                remove_worktree(local, name, None, None)
                report.removed.append(f"worktree entry {name} (its folder is gone)")
    for branch in branches:
        if branch in owned:
            continue
        if _rescue(local, branch, report):
            remove_worktree(local, "", None, branch)
            report.removed.append(f"branch {branch} (no owner)")


def _rescue(local: LocalRepo, branch: str, report: Sweep) -> bool:
    """Push the delta a dead worker committed but did not push. False: keep the branch."""
    try:
        commit = local.repo.lookup_reference(branch).peel(pygit2.Commit)
    except (KeyError, pygit2.GitError):
        return True
    worker = branch[len(BRANCH_PREFIX) :].split("/", 1)[0]
    folder = trees.subtree(commit.tree, f"{INBOX_DIR}/{worker}")
    files = [str(e.name) for e in folder] if folder is not None else []
    if len(files) != 1 or not files[0].endswith(".json"):
        return True  # no delta on it: nothing to lose
    delta_id = files[0].removesuffix(".json")
    state = local.hub.state()
    target = ref_name(worker, delta_id)
    if state.settled(delta_id) or target in local.hub.repo.references:
        return True  # it did reach the hub
    try:
        local.push(branch, target)
    except GnpError as exc:
        report.kept.append(
            f"branch {branch}: holds unpushed delta {delta_id[:12]}, and "
            f"pushing it failed ({exc}); kept"
        )
        return False
    report.rescued.append(f"delta {delta_id[:12]} of {worker} (pushed to the inbox)")
    return True


def _sweep_locks(repo_path: Path, age: float, report: Sweep) -> None:
    if not repo_path.is_dir():
        return
    now = time.time()
    for lock in repo_path.rglob("*.lock"):
        if lock.name in locks.NAMES:
            continue  # an flock: the kernel releases it when its holder dies
        with contextlib.suppress(OSError):
            if now - lock.stat().st_mtime > age:
                lock.unlink()
                report.removed.append(f"stale lock {lock}")
