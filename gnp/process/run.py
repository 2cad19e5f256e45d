"""The worker harness: run work in an isolated worktree and turn its edits into a delta.

Theory of operation: ``run`` gives the worker a worktree of main, runs the command there
(:mod:`gnp.process.command`), finds what the work changed from the files it left
(:mod:`gnp.process.edits`, which never opens the worktree's ``.git``: the work may have
deleted it, re-initialised it or pointed it at the hub), signs one delta, commits it on
the worker's own branch in gnp's own repository, pushes it to the worker's own inbox
ref, and removes the worktree.

Every run that gets as far as its command ends in exactly one verdict: a delta of the
edits, nothing (``unchanged``: no state file changed), or a ``fallback`` delta that
changes nothing and says why in one line. A command that fails, times out, cannot start
or is stopped (the process running it was told to stop) gets a fallback; so do edits
that cannot become a delta (a state file that is not JSON, is a link, nests too deep or
is too large for one delta) or that the worker's grant does not cover, and so does any
failure of the harness itself while it turns the edits into a delta, RecursionError and
MemoryError included: that step is one function, :func:`_verdict`, which makes any
exception the fallback's reason. What is not a verdict is raised: no key, or more
authority than the worker's grant (both before any work), and a delivery that fails,
in which case the delta stays on the worker's branch for ``gnp janitor`` to push, never
lost (it is committed there before it is pushed). A timeout or a stop kills everything the
command started.

A worktree that cannot be removed once its verdict is delivered is reported in the
result's note, not raised: a run that looks failed gets run again, and its work would be
submitted twice.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pygit2

from gnp.core import grants
from gnp.core.delta import Delta, check_limits, compose, fallback
from gnp.core.errors import GnpError, Refused, TooLarge, UsageError, describe
from gnp.core.layout import ref_name
from gnp.core.limits import Limits
from gnp.core.ops import Op
from gnp.core.signing import SigningKey
from gnp.core.verdict import WorkerStatus
from gnp.git import credentials
from gnp.git.hub import Hub, State
from gnp.git.inbox import delta_commit
from gnp.git.local import LocalRepo
from gnp.host import clock, keys
from gnp.process import edits, owners, proc
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
    nonce: str | None = None,
) -> RunResult:
    """Run ``command`` in a fresh worktree as ``worker``; submit what it changed.

    ``env`` adds to the command's environment. With ``capture``, the command's output
    is kept (not shown) and its last line is added to the reason of a failure. ``stop``,
    once set, stops the command (a frame being stopped passes its token down).
    ``nonce`` is the delta's (or the fallback's), when the caller chose it: a frame's
    token for this run, by which a second attempt finds the first one's delta.
    """
    if not command:
        raise GnpError("nothing to run: give a command after --")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    deadline = None if timeout is None else time.monotonic() + timeout  # the whole run's
    state = hub.state()
    # Fail before any work if the worker has no key.
    key = keys.load(state.hub_id, worker, hub.named)
    grants.check_claim(worker, authority, state.grants.of(worker))  # or too much authority
    wt = create(LocalRepo.for_hub(hub), worker, root=root, token=nonce, frame=state.frame)
    try:
        base = hub.state(hub.repo[wt.base.id])  # type: ignore[arg-type]
        result = _work(
            hub, wt, key, base, command, timeout, deadline, authority, env, capture, stop, nonce
        )
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
    deadline: float | None,
    authority: int,
    env: Mapping[str, str] | None,
    capture: bool,
    stop: StopToken | None,
    nonce: str | None,
) -> RunResult:
    """The run itself, in ``wt``: the work, its verdict, the verdict's delivery."""
    try:
        ended = execute(
            command,
            cwd=wt.path,
            env=_environment(hub, wt, env),
            timeout=timeout,
            deadline=deadline,
            stop=stop,
            capture=capture,
            started=lambda pid: owners.note_work(wt.local.path, wt.name, pid),
        )
        verdict = _verdict(wt, key, base, ended, authority, nonce, deadline)
    except (KeyboardInterrupt, SystemExit) as interrupt:  # Ctrl-C, SIGTERM: work killed
        _stopped(wt, key, base.frame, interrupt, nonce)
        raise
    if verdict.signed is None:
        with contextlib.suppress(OSError, ValueError):  # only the janitor's clue
            owners.note_unchanged(wt.local.path, wt.name)
        return RunResult(
            None,
            WorkerStatus.UNCHANGED,
            ended.exit_code,
            output=ended.output,
            ignored=verdict.ignored,
        )
    result = _deliver(wt, verdict.signed, verdict.status, ended, verdict.error)
    return replace(result, ignored=verdict.ignored)


@dataclass(frozen=True, slots=True)
class _Verdict:
    signed: Delta | None  # None: nothing changed
    status: WorkerStatus
    error: str | None = None
    ignored: tuple[str, ...] = ()


def _verdict(
    wt: Worktree,
    key: SigningKey,
    base: State,
    ended: Ended,
    authority: int,
    nonce: str | None,
    deadline: float | None,
) -> _Verdict:
    """What the run ends in, signed: its delta, nothing, or its fallback, whatever fails
    (the run's timeout passing while its edits are read included)."""
    if ended.error is not None:
        return _fallback(wt, key, base, ended.error, nonce)
    try:
        start = wt.local.repo[wt.start]  # the tree the work was given, in gnp's own repository
        assert isinstance(start, pygit2.Commit)
        paths = edits.changed(wt.path, start.tree, wt.before, deadline)
        ops = edits.edits(wt.path, start.tree, paths, base.types, base.limits, deadline=deadline)
        skipped = edits.not_state_files(paths)  # not merged, and worth saying so
        if not ops:
            return _Verdict(None, WorkerStatus.UNCHANGED, ignored=skipped)
        signed = key.sign(fitted(wt, start.tree, paths, base, ops, authority, deadline, nonce))
        within_limits(signed, base.limits)
        grants.check(signed, base.grants.of(wt.worker))  # edits outside the grant: a fallback
    except Exception as exc:  # RecursionError and MemoryError too: the run still ends in one
        return _fallback(wt, key, base, _reason(exc), nonce)
    return _Verdict(signed, WorkerStatus.OK, ignored=skipped)


def _fallback(
    wt: Worktree, key: SigningKey, base: State, reason: str, nonce: str | None = None
) -> _Verdict:
    signed = key.sign(fallback(wt.worker, reason, frame=base.frame, stamp=clock.stamp(nonce)))
    return _Verdict(signed, WorkerStatus.FALLBACK, reason)


def _reason(exc: Exception) -> str:
    """Why the work's edits were not submitted, said so that someone can act on it."""
    if isinstance(exc, Refused):
        return _one_line(str(exc))
    return _one_line(
        f"gnp failed on the work's edits after the command ran ({describe(exc)}), so "
        "none was submitted: run the work again, and report this if it happens again"
    )


def _one_line(text: str) -> str:
    """``text`` as one line that any encoder takes: a reason may quote a file's name,
    which the work chose (a newline in it, or bytes that are not UTF-8)."""
    text = " ".join(text.split())
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# The delta ---------------------------------------------------------------------------


def fitted(
    wt: Worktree,
    tree: pygit2.Tree,
    paths: list[str],
    base: State,
    ops: list[Op],
    authority: int,
    deadline: float | None = None,
    nonce: str | None = None,
) -> Delta:
    """The delta of ``ops``; over the operation limit, what is new is added whole instead
    of made piece by piece by merge operations, which may fit (it did before those were
    made)."""
    if len(ops) > base.limits.max_ops:
        with contextlib.suppress(Refused):
            whole = edits.edits(
                wt.path, tree, paths, base.types, base.limits, merge_new=False, deadline=deadline
            )
            if len(whole) < len(ops):
                ops = whole
    return compose(wt.worker, ops, frame=base.frame, stamp=clock.stamp(nonce), authority=authority)


def within_limits(signed: Delta, limits: Limits) -> None:
    """Refuse now what the frame would refuse: a delta over the hub's limits."""
    try:
        check_limits(signed, limits)
        if len(signed.encode()) > limits.max_bytes:
            raise TooLarge(f"the delta would be over {limits.max_bytes} bytes")
    except Refused as exc:
        raise TooLarge(f"the edits are too large for one delta: {exc}") from None


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
            f"'gnp janitor --hub {local.hub.named}' will push it"
        ) from None
    return delta.id


def _deliver(
    wt: Worktree, signed: Delta, status: WorkerStatus, ended: Ended, error: str | None
) -> RunResult:
    delta_id = deliver(wt.local, wt, signed)
    return RunResult(delta_id, status, ended.exit_code, error, len(signed.ops), ended.output)


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
            f"'gnp janitor --hub {wt.local.hub.named}' removes it once this process has "
            "exited",
        )
    return result


# gnp's own credentials for git hosts are for gnp to fetch and push with, not the work's:
# kept out of its environment, so that no tool it runs uses them, or shows them to an
# agent, by accident. This is no isolation: the work runs as the same user (README).
_WITHHELD = frozenset({credentials.TOKEN, credentials.TOKEN_USER, credentials.SSH_KEY})


def _environment(hub: Hub, wt: Worktree, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if name not in _WITHHELD},
        **(extra or {}),
        "GNP_WORKTREE": str(wt.path),
        "GNP_WORKER": wt.worker,
        # Its mark, beside that of any work it runs in (gnp.process.proc.stop_marked).
        **dict([proc.mark(str(wt.path))]),
        "GNP_HUB": hub.url or os.path.abspath(hub.path),  # the command runs elsewhere
    }


def _stopped(
    wt: Worktree, key: SigningKey, frame: int, interrupt: BaseException, nonce: str | None
) -> None:
    """Work stopped from outside still gets its verdict before this process goes: the
    worker's fallback, as the workers of a frame that is stopped leave theirs."""
    reason = f"stopped: the process running it was told to stop ({_interrupt_name(interrupt)})"
    with contextlib.suppress(Exception):  # best effort: the stop itself must go on
        deliver(
            wt.local,
            wt,
            key.sign(fallback(wt.worker, reason, frame=frame, stamp=clock.stamp(nonce))),
        )


def _interrupt_name(interrupt: BaseException) -> str:
    if isinstance(interrupt, KeyboardInterrupt):
        return "SIGINT"
    code = interrupt.code if isinstance(interrupt, SystemExit) else None
    return signal_name(code - 128) if isinstance(code, int) and code > 128 else "exit"
