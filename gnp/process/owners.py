"""Ownership records: which process owns a worktree, so that the janitor can tell a dead
owner from a live one after a SIGKILL, which no trap survives.

Theory of operation: a worktree's record is written before its branch exists and removed
after its branch is gone, so a branch the janitor sees is either owned by a record or
left by nobody. A record is replaced whole (written aside, then renamed), so the janitor
never reads half of one. What the janitor believes of a record is read once, here, into
an :class:`Owner`: a record it cannot read, or a field of the wrong type, means nothing
is known of it, and the janitor treats the worktree as left by a dead owner only when
the record says which process that was and it is gone.

The JSON keys are shared by every gnp version on a machine (a janitor may sweep after an
older run), so they do not change: ``worker pid host start created path branch``, and,
as the run goes, ``work: {"sid"}`` and ``unchanged``; a frame's run adds ``run: {"token",
"frame"}`` (:mod:`gnp.git.attempts`), which an older janitor passes over.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gnp.host import files
from gnp.process.proc import process_start, running

FOLDER = "gnp-owners"  # in the local repository, beside its worktree entries


@dataclass(frozen=True, slots=True)
class Owner:
    """One ownership record, as read: what is not known is None."""

    name: str  # the worktree's name, and the record's
    pid: int | None = None
    host: str | None = None
    start: str | None = None  # the owner's start time, as the kernel gives it
    path: str | None = None  # the worktree's folder (always named as the record is)
    claimed: str | None = None  # the folder the record names, believed or not
    readable: bool = True  # False: the record is not a JSON object (garbage, or cut short)
    branch: str | None = None
    session: int | None = None  # the session the work runs in, once it started
    unchanged: bool = False  # the run ended with nothing to report
    token: str | None = None  # the frame's token for the run, if a frame ran it
    frame: int = 0  # the hub's frame when the run began

    @classmethod
    def parse(cls, name: str, record: object) -> Owner:
        fields = record if isinstance(record, dict) else {}
        work = fields.get("work")
        run = fields.get("run")
        run = run if isinstance(run, dict) else {}
        return cls(
            name,
            pid=_typed(fields.get("pid"), int),
            host=_typed(fields.get("host"), str),
            start=_typed(fields.get("start"), str),
            path=_own_folder(name, _typed(fields.get("path"), str)),
            claimed=_typed(fields.get("path"), str),
            readable=isinstance(record, dict),
            branch=_typed(fields.get("branch"), str),
            session=_typed(work.get("sid"), int) if isinstance(work, dict) else None,
            unchanged=fields.get("unchanged") is True,
            token=_token(run.get("token")),
            frame=_typed(run.get("frame"), int) or 0,
        )

    def alive(self) -> bool:
        """Is the owner still running? One on another host: assume so. One that the
        record does not name: no."""
        if self.host != socket.gethostname():
            return True
        return self.pid is not None and running(self.pid, self.start)


def _own_folder(name: str, path: str | None) -> str | None:
    """A worktree's folder is named as its record is (:func:`gnp.process.worktree.create`),
    and the janitor removes a dead owner's folder whole: a record that names any other
    folder is damaged, and its path is not believed."""
    return path if path is not None and Path(path).name == name else None


def _token(value: object) -> str | None:
    """A run's token as a frame makes one (a delta's nonce), or nothing believed."""
    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) else None


def _typed(value: object, kind: type[Any]) -> Any:
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def record_path(repo: Path, name: str) -> Path:
    return repo / FOLDER / f"{name}.json"


def read_all(repo: Path) -> list[Owner]:
    """Every ownership record of the local repository at ``repo``, by name."""
    out = []
    for path in sorted((repo / FOLDER).glob("*.json")):
        try:
            record = json.loads(files.read_bounded(path, MAX_RECORD_BYTES))
        except (OSError, ValueError):
            record = None
        out.append(Owner.parse(path.stem, record))
    return out


MAX_RECORD_BYTES = 64 * 1024  # a record is a few hundred bytes


def write(
    repo: Path,
    name: str,
    *,
    worker: str,
    path: Path,
    branch: str,
    token: str | None = None,
    frame: int = 0,
) -> None:
    """The record of a worktree this process makes now; ``token`` is the frame's for the
    run, and ``frame`` the hub's frame as it begins."""
    pid = os.getpid()
    record: dict[str, Any] = {
        "worker": worker,
        "pid": pid,
        "host": socket.gethostname(),
        "start": process_start(pid),
        "created": datetime.now(UTC).isoformat(),
        "path": str(path),
        "branch": branch,
    }
    if token is not None:
        record["run"] = {"token": token, "frame": frame}
    folder = record_path(repo, name).parent
    folder.mkdir(exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)  # whatever the umask: only this user's processes write records
    _put(repo, name, record)


def note_work(repo: Path, name: str, pid: int) -> None:
    """Add the session the work runs in (started by ``pid``), so that if this process is
    killed outright the janitor can stop the work it left running, unsupervised, past any
    timeout."""
    _note(repo, name, work={"sid": pid})


def note_unchanged(repo: Path, name: str) -> None:
    """Say that the run ended with nothing to report, so that a kill while the worktree
    is removed is not taken by the janitor for a worker that died before it reported (and
    given a fallback it never earned)."""
    _note(repo, name, unchanged=True)


def remove(repo: Path, name: str) -> None:
    record_path(repo, name).unlink(missing_ok=True)


def _note(repo: Path, name: str, **fields: Any) -> None:
    record = json.loads(record_path(repo, name).read_text())
    _put(repo, name, {**record, **fields})


def _put(repo: Path, name: str, record: dict[str, Any]) -> None:
    """Replace the record whole: the janitor never reads half of one."""
    final = record_path(repo, name)
    tmp = final.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, final)
