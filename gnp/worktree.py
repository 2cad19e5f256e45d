"""Isolated worktrees for workers, and the traps that always remove them.

Theory of operation: a worker gets a worktree of ``main`` (state files only, no
``.gnp/``) on a branch of its own, ``gnp/<worker>/<token>``, in its local repository,
by default on tmpfs. Whatever happens, the trap removes the directory, prunes the
worktree entry and deletes the branch: on normal exit and exceptions (the context
manager), on SIGTERM (turned into ``SystemExit`` so the stack unwinds through it), on
SIGINT (``KeyboardInterrupt``, likewise) and at interpreter exit (``atexit``). Only
SIGKILL escapes; for that, an ownership record (pid, host, process start time) lets the
janitor tell a dead owner from a live one and clean up after it.

libgit2 1.9.7 (pygit2 1.21) reports false "already checked out" and "current HEAD of a
linked repository" errors when processes add and prune worktrees of one repository at
once; worktree add/prune and branch deletion are therefore serialized per repository
with a file lock, and those two errors are retried.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pygit2

from . import locks
from .local import LocalRepo

BRANCH_PREFIX = "refs/heads/gnp/"
OWNERS = "gnp-owners"
_RETRYABLE = ("already checked out", "current HEAD of a linked", "is locked")
T = TypeVar("T")


def default_root() -> Path:
    """Where worktrees go: ``$GNP_WORKTREES``, else tmpfs if there is one, else the temp dir."""
    configured = os.environ.get("GNP_WORKTREES")
    if configured:
        return Path(configured)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"gnp-{os.getuid()}"
    return Path(tempfile.gettempdir()) / f"gnp-{os.getuid()}"


def proc_stat(pid: int) -> list[str] | None:
    """The fields of Linux's /proc/<pid>/stat after the command name (the state is
    field 0), or None if there is no such process or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def session_members(sid: int) -> list[int]:
    """The live processes of session ``sid``, its leader included (Linux's /proc;
    elsewhere, none found). Zombies are not counted: they have ended, and only wait to be
    reaped by whoever adopted them."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = proc_stat(int(entry.name))  # None: it ended meanwhile
            if fields is not None and int(fields[3]) == sid and fields[0] not in "ZX":
                found.append(int(entry.name))
    return found


def stop_session(sid: int, worktree: str) -> int:
    """Kill what is left of the work that ran in ``worktree``, in session ``sid``; return
    how many were killed. Only a process whose environment names that worktree is
    touched: a session id is handed out again once its session has ended, to anyone."""
    mark = f"GNP_WORKTREE={worktree}".encode()
    killed = 0
    for pid in session_members(sid):
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile, or not ours to read (nor to kill)
            continue
        if mark not in environment:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


_START = 19  # in proc_stat's fields: when the process started, in clock ticks since boot


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid from the original), if known."""
    fields = proc_stat(pid)
    return None if fields is None else fields[_START]


def alive(owner: dict[str, Any]) -> bool:
    """Is the process that owns a worktree still running? Other hosts: assume yes."""
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = proc_stat(pid)
    if fields is None:  # no /proc: the signal's answer is all there is
        return True
    if fields[0] in "ZX" and _threads(pid) <= 1:
        return False  # it ended, and only waits to be reaped by whoever adopted it
    return owner.get("start") is None or fields[_START] == owner.get("start")


def _threads(pid: int) -> int:
    """How many threads ``pid`` has (a main thread that ended before the others shows
    as a zombie while the process still runs)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


@contextlib.contextmanager
def repo_lock(repo_path: Path) -> Iterator[None]:
    """Serialize worktree bookkeeping on one repository across processes and threads."""
    with _thread_lock, locks.held(repo_path / locks.WORKTREES):
        yield


_thread_lock = threading.RLock()


def _retry(action: Callable[[], T], tries: int = 50) -> T:
    for attempt in range(tries):
        try:
            return action()
        except pygit2.GitError as exc:
            if attempt == tries - 1 or not any(s in str(exc) for s in _RETRYABLE):
                raise
            time.sleep(0.002 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class Worktree:
    local: LocalRepo
    worker: str
    name: str
    path: Path
    branch: str
    base: pygit2.Commit  # main when the worktree was made
    start: pygit2.Oid  # the worktree's first commit: base without .gnp/
    removed: bool = False
    keep_branch: bool = False  # set when the branch holds a delta that is not yet pushed

    @property
    def owner_file(self) -> Path:
        return self.local.path / OWNERS / f"{self.name}.json"

    def remove(self) -> None:
        """Remove the directory, the worktree entry, the branch and the record. Idempotent."""
        if self.removed:
            return
        remove_worktree(self.local, self.name, self.path, None if self.keep_branch else self.branch)
        with contextlib.suppress(FileNotFoundError):
            self.owner_file.unlink()
        self.removed = True
        _LIVE.pop(self.name, None)


def remove_worktree(local: LocalRepo, name: str, path: Path | None, branch: str | None) -> None:
    repo = local.repo
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
    with repo_lock(local.path):
        if name in repo.list_worktrees():
            _retry(lambda: repo.lookup_worktree(name).prune(True))
        if branch is not None and branch in repo.references:
            _retry(lambda: repo.references.delete(branch))


def create(local: LocalRepo, worker: str, *, root: Path | None = None) -> Worktree:
    """A fresh worktree of the hub's main for ``worker``, with its trap set."""
    base = local.fetch_main()
    name = f"{worker}-{os.getpid()}-{secrets.token_hex(4)}"
    root = root or default_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = root / name
    branch = f"{BRANCH_PREFIX}{worker}/{name}"
    tree = local.repo.TreeBuilder(base.tree)
    if tree.get(".gnp") is not None:
        tree.remove(".gnp")  # workers see state, never the protocol's files
    sig = pygit2.Signature("gnp", "gnp@gnp.invalid")
    start = local.repo.create_commit(
        None, sig, sig, f"worktree of {base.id}", tree.write(), [base.id]
    )
    wt = Worktree(local, worker, name, path, branch, base, start)
    _write_owner(wt)
    _LIVE[name] = wt
    install_traps()
    try:
        with repo_lock(local.path):
            ref = local.repo.references.create(branch, start)
            _retry(lambda: local.repo.add_worktree(name, str(path), ref))
    except BaseException:
        wt.remove()
        raise
    return wt


@contextlib.contextmanager
def worktree(local: LocalRepo, worker: str, *, root: Path | None = None) -> Iterator[Worktree]:
    """``with worktree(local, "w") as wt:`` ... the worktree is gone afterwards, always."""
    wt = create(local, worker, root=root)
    try:
        yield wt
    finally:
        wt.remove()


def note_work(wt: Worktree, pid: int) -> None:
    """Add to the ownership record the session the work runs in (started by ``pid``), so
    that if this process is killed outright the janitor can stop the work it left
    running, unsupervised, past any timeout."""
    _note(wt, work={"sid": pid})


def note_unchanged(wt: Worktree) -> None:
    """Say in the ownership record that the run ended with nothing to report, so that a
    kill while the worktree is removed is not taken by the janitor for a worker that
    died before it reported (and given a fallback it never earned)."""
    _note(wt, unchanged=True)


def _note(wt: Worktree, **fields: Any) -> None:
    record = json.loads(wt.owner_file.read_text())
    _put_record(wt, {**record, **fields})


def _write_owner(wt: Worktree) -> None:
    record = {
        "worker": wt.worker,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start": process_start(os.getpid()),
        "created": datetime.now(UTC).isoformat(),
        "path": str(wt.path),
        "branch": wt.branch,
    }
    wt.owner_file.parent.mkdir(exist_ok=True)
    _put_record(wt, record)


def _put_record(wt: Worktree, record: dict[str, Any]) -> None:
    """Replace the ownership record whole: the janitor never reads half of one."""
    tmp = wt.owner_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, wt.owner_file)


# Traps ------------------------------------------------------------------------------------

_LIVE: dict[str, Worktree] = {}
_at_exit = False
_on_signal = False


def _remove_all() -> None:
    for wt in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            wt.remove()


# Set when the process is told to stop: work running on other threads (which signals
# never reach) sees it, stops its command and records why in a fallback delta.
STOPPING = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    STOPPING.set()
    raise SystemExit(128 + signum)  # unwinds through every `with worktree(...)`


@contextlib.contextmanager
def stopping_on_interrupt() -> Iterator[None]:
    """Around waiting, in the main thread, for work running on other threads: set the
    traps from here (signal handlers can only be set here) and, if this thread is
    interrupted (SIGTERM, Ctrl-C), tell the work to stop, so that it stops its commands
    and leaves fallbacks instead of running on to its timeouts."""
    install_traps()
    STOPPING.clear()
    try:
        yield
    except BaseException:
        STOPPING.set()
        raise


def install_traps() -> None:
    """Remove live worktrees at exit and on SIGTERM. The signal handler can only be set
    from the main thread, so a call from another thread sets the exit trap alone and a
    later call from the main thread still sets the handler."""
    global _at_exit, _on_signal
    if not _at_exit:
        _at_exit = True
        atexit.register(_remove_all)
    if _on_signal or threading.current_thread() is not threading.main_thread():
        return
    _on_signal = True
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


def owners(local: LocalRepo) -> list[dict[str, Any]]:
    out = []
    for path in sorted((local.path / OWNERS).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            record = {}
        record["name"] = path.stem
        out.append(record)
    return out
