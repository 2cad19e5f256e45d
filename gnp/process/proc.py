"""What this process can see of others, through Linux's ``/proc``: a process's state and
start time, the members of a session, and stopping what is left of a session's work.

Elsewhere (no ``/proc``) nothing is found, and callers fall back to what a signal says.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

_STATE = 0  # in proc_stat's fields: R, S, D, Z (zombie), X (dead)...
_SESSION = 3
_START = 19  # when the process started, in clock ticks since boot


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (the state is field
    0), or None if there is no such process or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid from the original), if known."""
    fields = proc_stat(pid)
    return None if fields is None else fields[_START]


def running(pid: int, start: str | None) -> bool:
    """Whether ``pid`` runs, and is the process that started at ``start`` (if given)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = proc_stat(pid)
    if fields is None:  # no /proc: the signal's answer is all there is
        return True
    if fields[_STATE] in "ZX" and _threads(pid) <= 1:
        return False  # it ended, and only waits to be reaped by whoever adopted it
    return start is None or fields[_START] == start


def _threads(pid: int) -> int:
    """How many threads ``pid`` has (a main thread that ended before the others shows
    as a zombie while the process still runs)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def session_members(sid: int) -> list[int]:
    """The live processes of session ``sid``, its leader included. Zombies are not
    counted: they have ended, and only wait to be reaped by whoever adopted them."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = proc_stat(int(entry.name))  # None: it ended meanwhile
            if fields is not None and int(fields[_SESSION]) == sid and fields[_STATE] not in "ZX":
                found.append(int(entry.name))
    return found


MARK = "GNP_WORKTREE"  # in the environment of a run's command, and all it starts


def marked(worktree: str) -> list[int]:
    """The live processes, this one aside, whose environment names ``worktree`` as its
    work's (``GNP_WORKTREE=...``): all that the work there started, wherever it went. A
    process that leaves the work's session (setsid(2), a daemon's double fork) keeps its
    environment; a worktree's path is never handed out twice."""
    mark = f"{MARK}={worktree}".encode()
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environment = Path(f"/proc/{entry.name}/environ").read_bytes()
            except OSError:  # ended meanwhile, or not ours to read (nor to kill)
                continue
            if mark in environment.split(b"\0"):
                fields = proc_stat(int(entry.name))
                if fields is not None and fields[_STATE] not in "ZX":
                    found.append(int(entry.name))
    return found


def stop_marked(worktree: str) -> int:
    """Kill what is left of the work that ran in ``worktree`` (:func:`marked`); return how
    many were killed. A few looks, for a process that was forking while the last ran."""
    killed = 0
    for _ in range(3):
        found = marked(worktree)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed
