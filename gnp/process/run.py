"""The worker harness: run work in an isolated worktree and turn its edits into a delta.

``run`` gives the worker a worktree of main, runs the command there
(:mod:`gnp.process.command`), diffs the state files against the base (:mod:`gnp.core.diff`),
signs one delta, commits it on the worker's own branch, pushes it to the worker's own
inbox ref, and removes the worktree. Edits count whether the work leaves them in the
worktree or commits them. A command that fails, times out, cannot start, is stopped
(the process running it was told to stop) or leaves a state file that is not JSON
produces a ``fallback`` delta that records why and changes nothing; a timeout or a stop
kills everything the command started. The delta is committed on the branch before it
is pushed, so a worker killed in between leaves it for the janitor to push, never lost.
A worktree that cannot be removed once its delta is delivered is reported in the
result's note, not raised: a run that looks failed gets run again, and its work would be
submitted twice.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pygit2

from gnp.core import canonical
from gnp.core.delta import Delta, check_limits, compose, fallback
from gnp.core.diff import diff_file
from gnp.core.document import ABSENT
from gnp.core.errors import GnpError, Refused, TooLarge, UsageError
from gnp.core.layout import ref_name
from gnp.core.limits import Limits, check_file
from gnp.core.ops import Op
from gnp.core.signing import SigningKey
from gnp.core.verdict import WorkerStatus
from gnp.git import trees
from gnp.git.hub import Hub, State
from gnp.git.inbox import delta_commit
from gnp.git.local import LocalRepo
from gnp.host import clock, keys
from gnp.process import owners
from gnp.process.command import Ended, execute, signal_name
from gnp.process.stop import StopToken
from gnp.process.worktree import Worktree, create


@dataclass(frozen=True, slots=True)
class RunResult:
    delta_id: str | None  # None: the command changed nothing, so nothing was submitted
    status: WorkerStatus  # OK, FALLBACK or UNCHANGED
    exit_code: int | None
    error: str | None = None
    ops: int = 0
    output: str = ""  # the command's stdout and stderr, when captured (the last 64 KiB)
    note: str | None = None  # what went wrong after the run was done (its cleanup)
    ignored: tuple[str, ...] = ()  # files the work changed that are not state files


def run(
    hub: Hub,
    worker: str,
    command: Sequence[str],
    *,
    timeout: float | None = None,
    authority: int = 0,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    stop: StopToken | None = None,
) -> RunResult:
    """Run ``command`` in a fresh worktree as ``worker``; submit what it changed.

    ``env`` adds to the command's environment. With ``capture``, the command's output
    is kept (not shown) and its last line is added to the reason of a failure. ``stop``,
    once set, stops the command (a frame being stopped passes its token down).
    """
    if not command:
        raise GnpError("nothing to run: give a command after --")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    state = hub.state()
    key = keys.load(state.hub_id, worker)  # fail before any work if the worker has no key
    wt = create(LocalRepo.for_hub(hub), worker, root=root)
    try:
        base = hub.state(hub.repo[wt.base.id])  # type: ignore[arg-type]
        result = _work(hub, wt, key, base, command, timeout, authority, env, capture, stop)
    except BaseException:
        wt.remove()
        raise
    return _cleaned_up(wt, result)


def _work(
    hub: Hub,
    wt: Worktree,
    key: SigningKey,
    base: State,
    command: Sequence[str],
    timeout: float | None,
    authority: int,
    env: Mapping[str, str] | None,
    capture: bool,
    stop: StopToken | None,
) -> RunResult:
    """The run itself, in ``wt``: the work, its edits, the delta, its delivery."""
    try:
        ended = execute(
            command,
            cwd=wt.path,
            env=_environment(hub, wt, env),
            timeout=timeout,
            stop=stop,
            capture=capture,
            started=lambda pid: owners.note_work(wt.local.path, wt.name, pid),
        )
    except (KeyboardInterrupt, SystemExit) as interrupt:  # Ctrl-C, SIGTERM: work killed
        _stopped(wt, key, base.frame, interrupt)
        raise
    if ended.error is not None:
        return _fall_back(wt, key, base, ended, ended.error)
    try:
        paths = changed(wt)
        ops = edits(wt, paths, base.types)
    except Refused as exc:
        return _fall_back(wt, key, base, ended, str(exc))
    skipped = not_state_files(paths)  # not merged, and worth saying so
    if not ops:
        with contextlib.suppress(OSError, ValueError):  # only the janitor's clue
            owners.note_unchanged(wt.local.path, wt.name)
        return RunResult(
            None, WorkerStatus.UNCHANGED, ended.exit_code, output=ended.output, ignored=skipped
        )
    signed = key.sign(fitted(wt, paths, base, ops, authority))
    try:
        within_limits(signed, base.limits)
    except Refused as exc:
        reason = f"the edits are too large for one delta: {exc}"
        return _fall_back(wt, key, base, ended, str(exc), reason=reason)
    result = _deliver(wt, signed, WorkerStatus.OK, ended, None)
    return replace(result, ignored=skipped)


# The edits, step by step ---------------------------------------------------------------


def changed(wt: Worktree) -> list[str]:
    """The files the work in ``wt`` changed, sorted: its commits count as edits."""
    repo = pygit2.Repository(str(wt.path))
    if repo.head.target != wt.start:
        # The work committed (coding agents do): its commits are edits like any other.
        repo.reset(wt.start, pygit2.enums.ResetMode.SOFT)
    ignored = pygit2.enums.FileStatus.IGNORED
    return sorted(path for path, flags in repo.status().items() if flags != ignored)


def not_state_files(paths: list[str]) -> tuple[str, ...]:
    return tuple(path for path in paths if not path.endswith(".json"))


def edits(
    wt: Worktree,
    paths: list[str],
    types: dict[str, dict[str, str]],
    *,
    merge_new: bool = True,
) -> list[Op]:
    """The operations that the edits in ``wt`` to ``paths`` (:func:`changed`) amount to;
    raises Refused if unusable. Only state files count."""
    ops: list[Op] = []
    for path in paths:
        if not path.endswith(".json"):
            continue
        check_file(path)
        data = trees.read(wt.base.tree, path)
        old = ABSENT if data is None else canonical.decode(data)
        new = _document_after(wt, path)
        ops.extend(diff_file(path, old, new, types.get(path, {}), merge_new=merge_new))
    return ops


def _document_after(wt: Worktree, path: str) -> Any:
    """The state file at ``path`` as the work left it (ABSENT: removed)."""
    try:
        data = (wt.path / path).read_bytes()
    except FileNotFoundError:
        return ABSENT
    try:
        return canonical.decode(data)
    except Refused as exc:
        raise type(exc)(f"{path} is not valid JSON after the work: {exc}") from None


def fitted(wt: Worktree, paths: list[str], base: State, ops: list[Op], authority: int) -> Delta:
    """The delta of ``ops``; over the operation limit, what is new is added whole instead
    of made piece by piece by merge operations, which may fit (it did before those were
    made)."""
    if len(ops) > base.limits.max_ops:
        with contextlib.suppress(Refused):
            whole = edits(wt, paths, base.types, merge_new=False)
            if len(whole) < len(ops):
                ops = whole
    return compose(wt.worker, ops, frame=base.frame, stamp=clock.stamp(), authority=authority)


def within_limits(signed: Delta, limits: Limits) -> None:
    """Refuse now what the frame would refuse: a delta over the hub's limits."""
    check_limits(signed, limits)
    if len(signed.encode()) > limits.max_bytes:
        raise TooLarge(f"the delta would be over {limits.max_bytes} bytes")


# Delivery ------------------------------------------------------------------------------


def commit_on_branch(local: LocalRepo, wt: Worktree, delta: Delta) -> pygit2.Oid:
    """Commit the signed delta on the worker's own branch: from here on it is not lost."""
    commit = delta_commit(local.repo, wt.base, delta.worker, delta.id, delta.encode())
    local.repo.lookup_reference(wt.branch).set_target(commit)
    return commit


def deliver(local: LocalRepo, wt: Worktree, delta: Delta) -> str:
    """Commit the signed delta on the worker's branch, then push it to its inbox ref.

    If the push fails, the branch outlives the worktree, so the delta is not lost:
    ``gnp janitor`` pushes what such branches hold.
    """
    commit_on_branch(local, wt, delta)
    try:
        local.push(wt.branch, ref_name(delta.worker, delta.id))
    except GnpError as exc:
        wt.keep_branch = True
        raise GnpError(
            f"{exc}; delta {delta.id[:12]} is kept on {wt.branch} and "
            "'gnp janitor --hub HUB' will push it"
        ) from None
    return delta.id


def _deliver(
    wt: Worktree, signed: Delta, status: WorkerStatus, ended: Ended, error: str | None
) -> RunResult:
    delta_id = deliver(wt.local, wt, signed)
    return RunResult(delta_id, status, ended.exit_code, error, len(signed.ops), ended.output)


def _fall_back(
    wt: Worktree, key: SigningKey, base: State, ended: Ended, error: str, *, reason: str = ""
) -> RunResult:
    """Deliver the worker's fallback: ``reason`` (default: ``error``) in the delta, and
    ``error`` in the result."""
    signed = key.sign(fallback(wt.worker, reason or error, frame=base.frame, stamp=clock.stamp()))
    return _deliver(wt, signed, WorkerStatus.FALLBACK, ended, error)


def _cleaned_up(wt: Worktree, result: RunResult) -> RunResult:
    """Remove the worktree of a finished run. Its failure must not become the run's: the
    delta is in the inbox already, and a run reported as failed gets run again, which
    would submit the same work twice. What is left is the janitor's to remove."""
    try:
        wt.remove()
    except Exception as exc:
        return replace(
            result,
            note=f"the worktree {wt.path} was not removed ({type(exc).__name__}: {exc}); "
            "'gnp janitor --hub HUB' removes it once this process has exited",
        )
    return result


def _environment(hub: Hub, wt: Worktree, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        **(extra or {}),
        "GNP_WORKTREE": str(wt.path),
        "GNP_WORKER": wt.worker,
        "GNP_HUB": hub.url or os.path.abspath(hub.path),  # the command runs elsewhere
    }


def _stopped(wt: Worktree, key: SigningKey, frame: int, interrupt: BaseException) -> None:
    """Work stopped from outside still gets its verdict before this process goes: the
    worker's fallback, as the workers of a frame that is stopped leave theirs."""
    reason = f"stopped: the process running it was told to stop ({_interrupt_name(interrupt)})"
    with contextlib.suppress(Exception):  # best effort: the stop itself must go on
        deliver(
            wt.local, wt, key.sign(fallback(wt.worker, reason, frame=frame, stamp=clock.stamp()))
        )


def _interrupt_name(interrupt: BaseException) -> str:
    if isinstance(interrupt, KeyboardInterrupt):
        return "SIGINT"
    code = interrupt.code if isinstance(interrupt, SystemExit) else None
    return signal_name(code - 128) if isinstance(code, int) and code > 128 else "exit"
