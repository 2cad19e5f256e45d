"""Running a worker's command: in its worktree, in a session of its own, within its
timeout, and stopped with everything it started.

Theory of operation: the command leads a new session, so that a timeout, a stop asked of
the frame (:class:`gnp.process.stop.StopToken`) or an interrupt of this process kills
its whole process group and every process of its session (a shell's background jobs get
groups of their own), never only its first process, and every process whose environment
carries its worktree's mark (:func:`gnp.process.proc.mark`), which a daemon that left
the session with setsid(2) keeps, with its process group. What it leaves running when
it exits goes too. Work that means to escape can: a process that overwrites its
environment in its own memory and leaves its group, or forks away faster than a look at
``/proc`` takes. Only a cgroup, or another user, holds such work. Its output, when captured, is
kept to the last 64 KiB, and the last line becomes part of the reason a failure gives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gnp.process.proc import WORKTREE, session_members, stop_marked
from gnp.process.stop import StopToken

KEEP_OUTPUT = 64 * 1024
_POLL = 0.2  # seconds between looks at a running command
STOPPED = "stopped: the process running it was told to stop"


@dataclass(frozen=True, slots=True)
class Ended:
    """How the command ended."""

    exit_code: int | None  # None: it did not start, timed out or was stopped
    error: str | None  # why it failed; None: it succeeded
    output: str = ""  # the tail of what it printed, when captured


def execute(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    stop: StopToken | None,
    capture: bool,
    started: Callable[[int], None],
    deadline: float | None = None,
) -> Ended:
    """Run ``command`` to its end; ``started`` is told its pid as soon as it runs. With
    ``deadline`` (of ``time.monotonic``: the whole run's, which began before this
    command), the command is killed then; ``timeout`` is still what a timeout says."""
    with tempfile.TemporaryFile() if capture else contextlib.nullcontext() as log:
        exit_code, error = _wait(
            _from_here(command), cwd, env, timeout, deadline, stop, log, started
        )
        output = ""
        if log is not None:
            log.seek(max(0, log.seek(0, os.SEEK_END) - KEEP_OUTPUT))
            output = log.read().decode("utf-8", "replace")
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    if error is not None and exit_code is not None and last:
        error = f"{error}: {last[:300]}"
    return Ended(exit_code, error, output)


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
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    deadline: float | None,
    stop: StopToken | None,
    log: IO[bytes] | None,
    started: Callable[[int], None],
) -> tuple[int | None, str | None]:
    try:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            stdin=subprocess.DEVNULL if log is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
        )
    except FileNotFoundError:
        return None, f"command not found: {command[0]}"
    except PermissionError:
        return None, f"command not executable: {command[0]}"
    worktree = env.get(WORKTREE)  # its mark is in all it starts: see stop_marked
    if deadline is None and timeout is not None:
        deadline = time.monotonic() + timeout
    try:
        with contextlib.suppress(OSError, ValueError):  # the janitor's clue; work goes on
            started(proc.pid)
        while True:  # in short steps, to notice a stop asked of the whole frame
            step = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
            try:
                returncode = proc.wait(timeout=step)
                break
            except subprocess.TimeoutExpired:
                if stop is not None and stop.stopped:
                    _kill_group(proc, worktree)
                    return None, STOPPED
                if deadline is not None and time.monotonic() >= deadline:
                    _kill_group(proc, worktree)
                    return None, f"timed out after {timeout:g} s and was killed"
    except BaseException:  # SIGTERM/SIGINT of the harness: stop the work, then unwind
        _kill_group(proc, worktree)
        raise
    _kill_group(proc, worktree)  # whatever it left running in the background goes too
    if returncode < 0:
        return returncode, f"command was killed by {signal_name(-returncode)}"
    if returncode != 0:
        return returncode, f"command exited with status {returncode}"
    return 0, None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(proc: subprocess.Popen[bytes], worktree: str | None) -> None:
    """Kill the command and all it started: its process group, every process of the
    session it leads (a shell's background jobs get process groups of their own), and
    every process whose environment names its worktree (one that left the session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in session_members(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if worktree is not None:
        stop_marked(worktree)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
