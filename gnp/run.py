"""The worker harness: run work in an isolated worktree and turn its edits into a delta.

``run`` gives the worker a worktree of main, runs the command there, diffs the state
files against the base (:mod:`gnp.diff`), signs one delta, commits it on the worker's
own branch, pushes it to the worker's own inbox ref, and removes the worktree. Edits
count whether the work leaves them in the worktree or commits them. A command that
fails, times out, cannot start, is stopped (the process running it was told to stop) or
leaves a state file that is not JSON produces a ``fallback`` delta that records why and
changes nothing; a timeout or a stop kills everything the command started. The delta
is committed on the branch before it is pushed, so a worker killed in between leaves it
for the janitor to push, never lost. A worktree that cannot be removed once its delta is
delivered is reported in the result's note, not raised: a run that looks failed gets run
again, and its work would be submitted twice.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import pygit2

from . import canonical, keys, trees
from .delta import Delta, check_limits, compose, fallback
from .diff import diff_file
from .document import ABSENT
from .errors import GnpError, Refused, TooLarge, UsageError
from .hub import Hub
from .inbox import delta_commit
from .layout import ref_name
from .limits import check_file
from .local import LocalRepo
from .ops import Op
from .signing import SigningKey
from .worktree import STOPPING, Worktree, create, note_unchanged, note_work, session_members


@dataclass(frozen=True, slots=True)
class RunResult:
    delta_id: str | None  # None: the command changed nothing, so nothing was submitted
    status: str  # "ok", "fallback" or "unchanged"
    exit_code: int | None
    error: str | None = None
    ops: int = 0
    output: str = ""  # the command's stdout and stderr, when captured (the last 64 KiB)
    note: str | None = None  # what went wrong after the run was done (its cleanup)
    ignored: tuple[str, ...] = ()  # files the work changed that are not state files


def changed(wt: Worktree) -> list[str]:
    """The files the work in ``wt`` changed, sorted: its commits count as edits."""
    repo = pygit2.Repository(str(wt.path))
    if repo.head.target != wt.start:
        # The work committed (coding agents do): its commits are edits like any other.
        repo.reset(wt.start, pygit2.enums.ResetMode.SOFT)
    ignored = pygit2.enums.FileStatus.IGNORED
    return sorted(path for path, flags in repo.status().items() if flags != ignored)


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
        try:
            new_bytes = (wt.path / path).read_bytes()
        except FileNotFoundError:
            new: Any = ABSENT
        else:
            try:
                new = canonical.decode(new_bytes)
            except Refused as exc:
                raise type(exc)(f"{path} is not valid JSON after the work: {exc}") from None
        ops.extend(diff_file(path, old, new, types.get(path, {}), merge_new=merge_new))
    return ops


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
) -> RunResult:
    """Run ``command`` in a fresh worktree as ``worker``; submit what it changed.

    ``env`` adds to the command's environment. With ``capture``, the command's output
    is kept (not shown) and its last line is added to the reason of a failure.
    """
    if not command:
        raise GnpError("nothing to run: give a command after --")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    state = hub.state()
    key = keys.load(state.hub_id, worker)  # fail before any work if the worker has no key
    local = LocalRepo.for_hub(hub)
    wt = create(local, worker, root=root)
    try:
        result = _work(hub, wt, key, command, timeout, authority, env, capture)
    except BaseException:
        wt.remove()
        raise
    return _cleaned_up(wt, result)


def _work(
    hub: Hub,
    wt: Worktree,
    key: SigningKey,
    command: Sequence[str],
    timeout: float | None,
    authority: int,
    env: Mapping[str, str] | None,
    capture: bool,
) -> RunResult:
    """The run itself, in ``wt``: the work, its edits, the delta, its delivery."""
    worker, local = wt.worker, wt.local
    base_state = hub.state(hub.repo[wt.base.id])  # type: ignore[arg-type]
    try:
        exit_code, error, output = _execute(command, wt, hub, timeout, env, capture)
    except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl-C, SIGTERM: the work was killed
        _stopped(wt, key, base_state.frame, stop)
        raise
    ops: list[Op] = []
    paths: list[str] = []
    if error is None:
        try:
            paths = changed(wt)
            ops = edits(wt, paths, base_state.types)
        except Refused as exc:
            error = str(exc)
    if error is not None:
        signed = key.sign(fallback(worker, error, frame=base_state.frame))
        return _submit(local, wt, signed, "fallback", exit_code, error, output)
    # What the work wrote besides state files: not merged, and worth saying so.
    skipped = tuple(path for path in paths if not path.endswith(".json"))
    if not ops:
        with contextlib.suppress(OSError, ValueError):  # only the janitor's clue
            note_unchanged(wt)
        return RunResult(None, "unchanged", exit_code, output=output, ignored=skipped)
    delta = compose(worker, ops, frame=base_state.frame, authority=authority)
    if len(ops) > base_state.limits.max_ops:
        # Too many operations: what is new, added whole rather than made piece by piece
        # by merge operations, may fit (it did before those were made).
        with contextlib.suppress(Refused):
            whole = edits(wt, paths, base_state.types, merge_new=False)
            if len(whole) < len(ops):
                delta = compose(worker, whole, frame=base_state.frame, authority=authority)
    signed = key.sign(delta)
    try:
        check_limits(signed, base_state.limits)
        limit = base_state.limits.max_bytes
        if len(signed.encode()) > limit:  # the frame would refuse it: say so now
            raise TooLarge(f"the delta would be over {limit} bytes")
    except Refused as exc:
        reason = f"the edits are too large for one delta: {exc}"
        signed = key.sign(fallback(worker, reason, frame=base_state.frame))
        return _submit(local, wt, signed, "fallback", exit_code, str(exc), output)
    result = _submit(local, wt, signed, "ok", exit_code, None, output)
    return replace(result, ignored=skipped)


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


def _submit(
    local: LocalRepo,
    wt: Worktree,
    signed: Delta,
    status: str,
    exit_code: int | None,
    error: str | None,
    output: str,
) -> RunResult:
    delta_id = deliver(local, wt, signed)
    return RunResult(delta_id, status, exit_code, error, len(signed.ops), output)


def _execute(
    command: Sequence[str],
    wt: Worktree,
    hub: Hub,
    timeout: float | None,
    extra_env: Mapping[str, str] | None,
    capture: bool,
) -> tuple[int | None, str | None, str]:
    """Run the command in its own process group, so that a timeout or our own stop ends
    everything it started, not only its first process."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "GNP_WORKTREE": str(wt.path),
        "GNP_WORKER": wt.worker,
        "GNP_HUB": hub.url or os.path.abspath(hub.path),  # the command runs elsewhere
    }
    with tempfile.TemporaryFile() if capture else contextlib.nullcontext() as log:
        exit_code, error = _wait(_from_here(command), wt, env, timeout, log)
        output = ""
        if log is not None:
            log.seek(max(0, log.seek(0, os.SEEK_END) - _KEEP_OUTPUT))
            output = log.read().decode("utf-8", "replace")
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    if error is not None and exit_code is not None and last:
        error = f"{error}: {last[:300]}"
    return exit_code, error, output


_KEEP_OUTPUT = 64 * 1024


def _from_here(command: Sequence[str]) -> list[str]:
    """The command runs in the worktree, but a relative path to its program
    (``./agent.sh``, ``bin/agent``) was written where gnp was run: resolve it there.
    A bare name is looked up on PATH as usual; arguments are the command's own."""
    program = command[0] if command else ""
    if os.sep in program and not os.path.isabs(program):
        return [os.path.abspath(program), *command[1:]]
    return list(command)


def _wait(
    command: Sequence[str],
    wt: Worktree,
    env: dict[str, str],
    timeout: float | None,
    log: IO[bytes] | None,
) -> tuple[int | None, str | None]:
    try:
        proc = subprocess.Popen(
            list(command),
            cwd=wt.path,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL if log is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
        )
    except FileNotFoundError:
        return None, f"command not found: {command[0]}"
    except PermissionError:
        return None, f"command not executable: {command[0]}"
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with contextlib.suppress(OSError, ValueError):  # the janitor's clue; work goes on
            note_work(wt, proc.pid)
        while True:  # in short steps, to notice a stop asked of the whole process
            step = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
            try:
                returncode = proc.wait(timeout=step)
                break
            except subprocess.TimeoutExpired:
                if STOPPING.is_set():
                    _kill_group(proc)
                    return None, "stopped: the process running it was told to stop"
                if deadline is not None and time.monotonic() >= deadline:
                    _kill_group(proc)
                    return None, f"timed out after {timeout:g} s and was killed"
    except BaseException:  # SIGTERM/SIGINT of the harness: stop the work, then unwind
        _kill_group(proc)
        raise
    _kill_group(proc)  # whatever it left running in the background goes too
    if returncode < 0:
        return returncode, f"command was killed by {_signal_name(-returncode)}"
    if returncode != 0:
        return returncode, f"command exited with status {returncode}"
    return 0, None


_POLL = 0.2  # seconds between looks at a running command


def _stopped(wt: Worktree, key: SigningKey, frame: int, stop: BaseException) -> None:
    """Work stopped from outside still gets its verdict before this process goes: the
    worker's fallback, as the workers of a frame that is stopped leave theirs."""
    reason = f"stopped: the process running it was told to stop ({_stop_name(stop)})"
    with contextlib.suppress(Exception):  # best effort: the stop itself must go on
        deliver(wt.local, wt, key.sign(fallback(wt.worker, reason, frame=frame)))


def _stop_name(stop: BaseException) -> str:
    if isinstance(stop, KeyboardInterrupt):
        return "SIGINT"
    code = stop.code if isinstance(stop, SystemExit) else None
    return _signal_name(code - 128) if isinstance(code, int) and code > 128 else "exit"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and all it started: its process group, and every process of the
    session it leads (a shell's background jobs get process groups of their own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in session_members(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
