"""The janitor: remove what dead workers and crashed engines left behind, and nothing else.

Theory of operation: it removes

* worktrees and ``gnp/`` branches whose owner process is dead (their ownership record
  says which pid, host and process start time), and ``gnp/`` branches and worktree
  entries that no record owns;
* what is left running of a dead owner's work (its record names the work's session):
  killed outright, the owner could not stop it, and it would run on unsupervised;
* inbox refs of deltas already in the ledger (a crashed engine's leftovers);
* git ``*.lock`` files older than a bound, left by killed processes.

It acts only on what a record names that is a worktree gnp made, inside the worktree
root it manages (:mod:`gnp.process.worktree_check`): a worker runs as the same user and
can forge a record, and a forged record must not make the janitor delete a folder, kill
a session or delete a branch of anyone else's. A record that fails those checks is
reported (``kept``) and left alone, whether its owner looks alive or not.

It never touches a worktree whose owner is alive, nor one on another host. And it never
drops work: a dead worker's branch whose tip is a signed delta not yet on the hub is
pushed to the inbox first, and if that push fails the branch is kept and reported.

Nor does it leave a dead worker without a verdict. A branch of a dead owner that holds
no delta, whose record does not say that the run had ended with nothing to report, means
its worker died before it reported: the janitor commits on that branch the worker's
empty fallback delta, signed with the worker's own key (absent from this machine: no
fallback, and the report says so), and pushes it as it pushes any delta a branch holds.
Committed first, it is the one fallback: a janitor killed before the push leaves it for
the next one to push, and a branch that holds a delta gets none, whether that delta was
already on the hub or is pushed now. A branch that is gone (its worker never started,
or had delivered and was removing it) gets none either.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gnp.core.delta import decode, fallback
from gnp.core.errors import GnpError, describe
from gnp.core.layout import INBOX_DIR, delta_path, parse_ref, ref_name
from gnp.git import trees
from gnp.git.attempts import verdict_of
from gnp.git.hub import Hub
from gnp.git.inbox import delta_commit, remove, snapshot
from gnp.git.local import LocalRepo
from gnp.host import clock, keys, locks
from gnp.process import owners
from gnp.process.owners import Owner
from gnp.process.proc import stop_marked
from gnp.process.worktree import BRANCH_PREFIX, default_root, remove_worktree
from gnp.process.worktree_check import refusal

STALE_LOCK_SECONDS = 600


@dataclass
class Sweep:
    removed: list[str] = field(default_factory=list)
    rescued: list[str] = field(default_factory=list)  # deltas pushed on a dead worker's behalf
    kept: list[str] = field(default_factory=list)  # what was left, and why
    fallbacks: list[str] = field(default_factory=list)  # submitted for workers that died
    unreported: list[str] = field(default_factory=list)  # dead workers left without one


def sweep(
    hub: Hub, *, lock_age: float = STALE_LOCK_SECONDS, roots: Sequence[Path] | None = None
) -> Sweep:
    """Sweep ``hub``'s leftovers on this machine; ``roots`` are the worktree roots whose
    worktrees it may remove (default: :func:`default_root`, ``$GNP_WORKTREES``)."""
    report = Sweep()
    state = hub.state()
    for item in snapshot(hub):
        named = parse_ref(item.ref)
        if named is not None and state.settled(named[1]) and remove(hub, item):
            report.removed.append(f"inbox ref {item.ref} (already merged)")
    local_path = keys.home() / "repos" / f"{state.hub_id}.git"
    if (local_path / "HEAD").exists():
        _sweep_local(LocalRepo.for_hub(hub), report, roots or (default_root(),))
    for repo_path in (Path(hub.repo.path), local_path):
        _sweep_locks(repo_path, lock_age, report)
    return report


def _sweep_local(local: LocalRepo, report: Sweep, roots: Sequence[Path]) -> None:
    repo = local.repo
    # Branches and worktrees first, owner records second: a worker that starts meanwhile
    # writes its record before its branch, so it is either owned or not seen at all.
    branches = [r for r in repo.references if r.startswith(BRANCH_PREFIX)]
    worktrees = list(repo.list_worktrees())
    owned: set[str] = set()
    here = socket.gethostname()
    for owner in owners.read_all(local.path):
        why = refusal(local, owner, roots) if owner.host in (here, None) else None
        if why is not None:  # see the module doc: reported, and nothing of it touched
            report.kept.append(f"ownership record {owner.name}: {why}; left alone")
            owned.add(owner.name)
            if owner.branch is not None:  # a worker still making its worktree has no
                owned.add(owner.branch)  # folder yet: its record fails, and its branch waits
            continue
        if owner.alive():
            owned.add(owner.name)
            if owner.branch is not None:
                owned.add(owner.branch)
            continue
        stopped = 0
        if owner.path is not None:
            stopped = stop_marked(owner.path)  # whatever becomes of its worktree
            if stopped:
                report.removed.append(
                    f"{stopped} process(es) of worktree {owner.name}'s work, left running"
                )
        if owner.branch is not None:
            reason = _fall_back(local, owner, owner.branch, stopped, report)
            if not _rescue(local, owner.branch, report, fallback_reason=reason):
                owned.update((owner.name, owner.branch))
                continue
        remove_worktree(local, owner.name, Path(owner.path) if owner.path else None, owner.branch)
        owners.remove(local.path, owner.name)
        where = f" at {owner.path}" if owner.path else ""
        report.removed.append(f"worktree {owner.name} of dead pid {owner.pid}{where}")
        if owner.branch is not None:
            owned.add(owner.branch)  # removed with its worktree: not to be reported again below
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


def _tip(local: LocalRepo, branch: str) -> pygit2.Commit | None:
    try:
        return local.repo.lookup_reference(branch).peel(pygit2.Commit)
    except (KeyError, pygit2.GitError):
        return None


def _worker_of(branch: str) -> str:
    return branch[len(BRANCH_PREFIX) :].split("/", 1)[0]


def _delta_on(commit: pygit2.Commit, worker: str) -> str | None:
    """The id of the delta ``commit`` carries for ``worker``, if it is a delta commit."""
    folder = trees.subtree(commit.tree, f"{INBOX_DIR}/{worker}")
    files = [str(e.name) for e in folder] if folder is not None else []
    if len(files) != 1 or not files[0].endswith(".json"):
        return None
    return files[0].removesuffix(".json")


def _fall_back(
    local: LocalRepo, owner: Owner, branch: str, stopped: int, report: Sweep
) -> str | None:
    """Commit on a dead worker's branch that holds no delta the empty fallback delta
    saying it died, for :func:`_rescue` to push; return its reason, or None if none was
    made. On the branch, not straight to the inbox: a janitor killed before the push
    leaves it to the next, which pushes this one instead of making a second."""
    worker = _worker_of(branch)
    tip = _tip(local, branch)
    if tip is None or _delta_on(tip, worker) is not None or owner.unchanged:
        # gone, or it holds the worker's own delta (or an earlier fallback), or the run
        # had ended with nothing to report and was removing its worktree
        return None
    who = f"worker process {owner.pid} on {owner.host}"
    done = "stopped its work, left running, and swept" if stopped else "swept"
    reason = (
        f"{who} died before it reported, leaving no delta; "
        f"the janitor {done} its worktree {owner.name}"
    )
    if owner.token is not None:
        with contextlib.suppress(Exception):  # unknown: a fallback, as without a token
            if verdict_of(local.hub, worker, owner.token, since=owner.frame) is not None:
                return None  # another attempt of its run delivered the run's one verdict
    try:
        # main as this process read it (opening a hub at a URL fetches): no network here,
        # so what fails is this machine's, and a failed push below keeps the branch.
        main = local.repo[local.hub.main().id]
        assert isinstance(main, pygit2.Commit)
        state = local.hub.state(main)
        path = keys.key_path(state.hub_id, worker)
        if not path.exists():  # keys.load's advice (keygen) would not help this worker
            raise GnpError(f"its key is not on this machine (no {path})")
        signed = keys.load(state.hub_id, worker).sign(
            fallback(worker, reason, frame=state.frame, stamp=clock.stamp(owner.token))
        )
        commit = delta_commit(local.repo, main, worker, signed.id, signed.encode())
        with locks.worktrees(local.path):  # two janitors at once: one fallback between them
            if _tip(local, branch) != tip:
                return None  # another janitor got there first
            local.repo.lookup_reference(branch).set_target(commit)
    except Exception as exc:  # whatever stops the fallback must not stop the sweep
        report.unreported.append(f"{worker}, whose {who} died before it reported: {describe(exc)}")
        return None
    return reason


def _rescue(
    local: LocalRepo, branch: str, report: Sweep, *, fallback_reason: str | None = None
) -> bool:
    """Push the delta a dead worker committed but did not push (or the fallback the
    janitor committed for it, whose reason is given). False: keep the branch."""
    commit = _tip(local, branch)
    if commit is None:
        return True
    worker = _worker_of(branch)
    delta_id = _delta_on(commit, worker)
    if delta_id is None:
        return True  # no delta on it: nothing to lose
    state = local.hub.state()
    target = ref_name(worker, delta_id)
    if state.settled(delta_id) or target in local.hub.repo.references:
        return True  # it did reach the hub
    other = _run_delivered(local, commit, worker, delta_id)
    if other is not None:
        report.removed.append(
            f"delta {delta_id[:12]} of {worker}, not pushed: its run's verdict is delta "
            f"{other[:12]}, delivered by another attempt (on branch {branch})"
        )
        return True
    try:
        local.push(branch, target)
    except (GnpError, KeyError) as exc:
        if _tip(local, branch) is None or target in local.hub.repo.references:
            return True  # another janitor pushed it meanwhile (and removed the branch)
        report.kept.append(
            f"branch {branch}: holds unpushed delta {delta_id[:12]}, and "
            f"pushing it failed ({exc}); kept"
        )
        return False
    if fallback_reason is None:
        report.rescued.append(f"delta {delta_id[:12]} of {worker} (pushed to the inbox)")
    else:
        report.fallbacks.append(f"fallback delta {delta_id[:12]} for {worker}: {fallback_reason}")
    return True


def _run_delivered(
    local: LocalRepo, commit: pygit2.Commit, worker: str, delta_id: str
) -> str | None:
    """The id of another delta of the run ``delta_id`` belongs to (their nonce is the
    run's token), in the inbox or merged: a frame's run attempted again elsewhere after
    this one died. Random nonces never meet, so for any other delta this is None."""
    try:
        delta = decode(trees.read(commit.tree, delta_path(worker, delta_id)) or b"")
        other = verdict_of(local.hub, worker, delta.nonce, since=delta.frame)
    except Exception:  # unknown: pushed, as without a token; the engine settles it
        return None
    return other.id if other is not None and other.id != delta_id else None


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
