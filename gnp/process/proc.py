"""What this process can see of others, through Linux's ``/proc``: a process's state and
start time, the members of a session, and stopping what is left of a session's work.

Elsewhere (no ``/proc``) nothing is found, and callers fall back to what a signal says.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from pathlib import Path

_STATE = 0  # in proc_stat's fields: R, S, D, Z (zombie), X (dead)...
_GROUP = 2
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


WORKTREE = "GNP_WORKTREE"  # the work's own worktree, in its environment
_MARK_PREFIX = "GNP_WORK_"


def mark(worktree: str) -> tuple[str, str]:
    """The environment entry (name, value) that marks the work of ``worktree`` and all it
    starts. Named after the worktree, so that work run inside other work (a `gnp run`
    in a worker's command) carries the marks of both, and is stopped with either."""
    digest = hashlib.sha256(worktree.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{_MARK_PREFIX}{digest}", worktree


def marked(worktree: str) -> list[int]:
    """The live processes, this one aside, whose environment carries ``worktree``'s
    :func:`mark`: all that the work there started, wherever it went. A process that
    leaves the work's session (setsid(2), a daemon's double fork) keeps its environment;
    a worktree's path is never handed out twice."""
    return [pid for pid, _ in _marked(_entry(worktree))]


def _marked(entry: bytes) -> list[tuple[int, int]]:
    """(pid, process group) of each live process that carries ``entry``."""
    found = []
    with contextlib.suppress(OSError):
        for item in os.scandir("/proc"):
            if not item.name.isdigit() or int(item.name) == os.getpid():
                continue
            if _carries(int(item.name), entry):
                fields = proc_stat(int(item.name))
                if fields is not None and fields[_STATE] not in "ZX":
                    found.append((int(item.name), int(fields[_GROUP])))
    return found


def _entry(worktree: str) -> bytes:
    name, value = mark(worktree)
    return f"{name}={value}".encode("utf-8", "surrogateescape")


def _carries(pid: int, entry: bytes) -> bool:
    try:
        environment = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # ended meanwhile, or not ours to read (nor to kill)
        return False
    return entry in environment.split(b"\0")


_ROUNDS = 16  # looks for what was forked while the last was made


def stop_marked(worktree: str) -> int:
    """Kill what is left of the work that ran in ``worktree`` (:func:`marked`); return how
    many processes were found to kill.

    Each process found is killed with its whole process group: a group holds only what
    its first process forked, which is the work's (one started with a cleared
    environment included), and the kernel signals all of it at once. The group of this
    process, and its session, are never touched. Looks are made until one finds nothing;
    a process that forks and exits faster than a look takes can be missed by all of them
    (see :mod:`gnp.process.command`).
    Each process is also killed by a pidfd taken once its mark was read again, so that
    a pid handed out again meanwhile is never signalled."""
    entry = _entry(worktree)
    own_group, own_session = os.getpgid(0), os.getsid(0)
    killed: set[int] = set()
    for _ in range(_ROUNDS):
        found = _marked(entry)
        if not found:
            break
        for pid, group in found:
            if group not in (own_group, own_session) and group > 1:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
            _kill(pid, entry)
            killed.add(pid)
    return len(killed)


def _kill(pid: int, entry: bytes) -> None:
    """SIGKILL ``pid`` if it still carries ``entry``, held by a pidfd where there are."""
    try:
        pinned = os.pidfd_open(pid)
    except AttributeError:  # no pidfds here: the pid, as it is
        if _carries(pid, entry):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return
    except OSError:  # it ended
        return
    try:
        if _carries(pid, entry):  # read after pinning: the process the pidfd holds
            with contextlib.suppress(ProcessLookupError, PermissionError):
                signal.pidfd_send_signal(pinned, signal.SIGKILL)
    finally:
        os.close(pinned)
