"""The roster of a frame: which workers run, what each runs, with what authority and time.

A roster is plain JSON, so it can be a flow or deployment parameter:

    [{"id": "poster", "call": "agents.social:post", "authority": 0, "timeout": 60},
     {"id": "claude", "command": ["claude", "-p", "tidy the stats"], "timeout": 600}]

``call`` names a Python callable ``module:function``; it runs in a process of its own,
in the worker's worktree, and is given the worktree's path. ``command`` is an argv list
(or a string, split like a shell would, never run by one). Running in a process is what
lets a timeout stop blocking work: threads cannot be interrupted.

Where a roster's paths mean something. The work runs in its worktree, which holds state
alone, so a roster's paths are resolved from the member's *folder*, never from wherever
the process that runs the frame happens to be (a served deployment's process, say):

* the folder is the member's ``cwd`` if it names one (relative: from the roster file's
  folder), else the roster file's folder (:func:`load`), else, for a roster given as a
  list (:func:`parse`), the current folder at the time it is parsed; it is kept absolute,
  so the roster means the same when it is passed on as JSON (a flow or deployment
  parameter);
* a ``command``'s program, when it is a relative path (it has a slash: ``./agents/scout.sh``,
  ``bin/agent``), and its first argument, when that is a relative path with a slash
  naming a file in the folder (the script of ``python agents/x.py``, ``sh
  scripts/go.sh``). A bare program is looked up on PATH; every other argument is the
  command's own, relative to the worktree it runs in (where the state files are);
* a ``call``'s module is imported from what the frame's process imports, then from the
  folder.

:func:`check` is what a frame asks before anything runs: every worker on the hub's
keyring, every program there and executable, every call's module findable.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import re
import shlex
import shutil
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnp.core import canonical
from gnp.core.errors import GnpError, Malformed, UsageError
from gnp.core.limits import check_worker
from gnp.frame import call
from gnp.host import files

DEFAULT_TIMEOUT = 600.0  # seconds; a worker that hangs must not hold the frame forever
_CALL = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_KEYS = frozenset({"id", "call", "command", "authority", "timeout", "cwd"})


@dataclass(frozen=True, slots=True)
class Member:
    """One worker of the roster."""

    id: str
    call: str | None = None
    command: tuple[str, ...] = ()
    authority: int = 0
    timeout: float = DEFAULT_TIMEOUT
    cwd: str | None = None  # absolute: the folder its paths resolve from; None: the current one

    def folder(self) -> Path:
        """Where this worker's paths resolve from (see the module's docstring)."""
        return Path(self.cwd) if self.cwd is not None else Path.cwd()

    def argv(self) -> list[str]:
        """The process that does this worker's work, its paths resolved from its folder."""
        if self.call is not None:
            return call.command(self.call)
        return resolved(self.command, self.folder())

    def what(self) -> str:
        return self.call if self.call is not None else shlex.join(self.command)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.call is not None:
            out["call"] = self.call
        else:
            out["command"] = list(self.command)
        out["authority"] = self.authority
        out["timeout"] = self.timeout
        if self.cwd is not None:
            out["cwd"] = self.cwd
        return out


def resolved(command: Sequence[str], folder: Path) -> list[str]:
    """``command`` with its program, and an interpreter's script, made absolute from
    ``folder`` (the rule is in the module's docstring)."""
    argv = list(command)
    if not argv:
        return argv
    if os.sep in argv[0]:
        argv[0] = _join(folder, argv[0])
    if len(argv) > 1:
        script = argv[1]
        if os.sep in script and not os.path.isabs(script) and (folder / script).is_file():
            argv[1] = _join(folder, script)
    return argv


def _join(folder: Path, path: str) -> str:
    return os.path.normpath(os.path.join(folder, path))  # absolute stays absolute


def member(entry: object, index: int = 0, base: Path | None = None) -> Member:
    """One roster entry, checked; raises UsageError naming the entry and the problem.

    ``base`` is where a relative ``cwd`` resolves from, and the member's folder when it
    names none; None leaves a member without ``cwd`` to resolve from the current folder
    when it runs (a roster passed on as JSON has its ``cwd`` absolute already)."""
    where = f"roster entry {index + 1}"
    if not isinstance(entry, dict):
        raise UsageError(f"{where} must be an object with an id and a call or command")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise UsageError(f"{where} has unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    try:
        worker = check_worker(entry.get("id"))
    except Malformed as exc:
        raise UsageError(f"{where}: {exc}") from None
    where = f"roster worker {worker!r}"
    call, command = entry.get("call"), entry.get("command")
    if (call is None) == (command is None):
        raise UsageError(f"{where} needs exactly one of call (module:function) or command")
    argv: tuple[str, ...] = ()
    if call is not None and not (isinstance(call, str) and _CALL.fullmatch(call)):
        raise UsageError(f"{where}: call must look like package.module:function, not {call!r}")
    if command is not None:
        argv = _argv(command, where)
    authority = entry.get("authority", 0)
    if not isinstance(authority, int) or isinstance(authority, bool) or authority < 0:
        raise UsageError(f"{where}: authority must be a whole number >= 0, not {authority!r}")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise UsageError(f"{where}: timeout must be a positive number of seconds")
    cwd = entry.get("cwd")
    if cwd is not None and not (isinstance(cwd, str) and cwd and "\0" not in cwd):
        raise UsageError(f"{where}: cwd must be a folder's path, not {cwd!r}")
    if cwd is None:
        folder = None if base is None else str(base)
    else:  # kept absolute: the roster must not mean something else in another process
        folder = _join(Path.cwd() if base is None else base, cwd)
    return Member(worker, call, argv, authority, float(timeout), folder)


def parse(entries: object, base: Path | None = None) -> list[Member]:
    """A whole roster; worker ids must be distinct (one delta per worker per frame).

    Paths resolve from ``base``, by default the current folder, now (see the module's
    docstring): each member comes out with its ``cwd`` absolute."""
    if entries is None:
        return []
    if not isinstance(entries, list | tuple):
        raise UsageError("a roster is a JSON list of workers")
    base = Path.cwd() if base is None else base.absolute()
    members = [member(entry, i, base) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for m in members:
        if m.id in seen:
            raise UsageError(f"worker {m.id!r} is on the roster twice")
        seen.add(m.id)
    return members


MAX_ROSTER_BYTES = 16 * 1024 * 1024  # far more than any roster: 10,000 workers fit in 2 MB


def load(path: str) -> list[Member]:
    """A roster file, checked entry by entry; errors name the file.

    Only a regular file is read, and no more than :data:`MAX_ROSTER_BYTES` of it
    (:func:`gnp.host.files.read_bounded`): a FIFO would block the command with nothing
    said, and ``/dev/zero`` would be read until memory runs out.
    """
    try:
        data = files.read_bounded(path, MAX_ROSTER_BYTES)
    except files.NotAFile:
        raise UsageError(f"roster {path} is not a regular file") from None
    except files.TooLong:
        raise UsageError(f"roster {path} is over {MAX_ROSTER_BYTES} bytes") from None
    except OSError as exc:
        raise UsageError(f"cannot read roster {path}: {exc.strerror}") from None
    try:
        return parse(canonical.decode(data), base=Path(path).absolute().parent)
    except GnpError as exc:  # not JSON, or not a roster
        raise UsageError(f"roster {path}: {exc}") from None


def check(members: Sequence[Member], registered: Collection[str], hub: str) -> None:
    """Refuse, in one line that says what to fix, a roster whose workers cannot run: a
    worker not on the hub's keyring (``registered``), a program that is not there or not
    executable, a call whose module cannot be found. A frame asks this before anything
    runs, so a roster that cannot work fails at once instead of in fallbacks."""
    problems = [p for m in members for p in _problems(m, registered, hub)]
    if problems:
        raise UsageError("roster refused: " + "; ".join(problems))


def _problems(m: Member, registered: Collection[str], hub: str) -> list[str]:
    where = f"worker {m.id!r}"
    found: list[str] = []
    if m.id not in registered:
        found.append(f"{where} has no key on the hub's keyring (gnp keygen {m.id} --hub {hub})")
    folder = m.folder()
    if not folder.is_dir():
        found.append(f"{where}: its folder {folder} is not a folder (fix its cwd)")
        return found
    if m.call is not None:
        top = m.call.partition(":")[0].split(".")[0]
        if not _findable(top, folder):
            found.append(
                f"{where}: no module {top!r} for call {m.call} "
                f"(looked where this process imports from, then in {folder})"
            )
        return found
    program = m.argv()[0]
    if os.sep in program:
        if not os.path.isfile(program):
            found.append(f"{where}: command {program} does not exist (fix its path or cwd)")
        elif not os.access(program, os.X_OK):
            found.append(f"{where}: command {program} is not executable (chmod +x it)")
    elif shutil.which(program) is None:
        found.append(f"{where}: command {program!r} is not on PATH (install it or give its path)")
    return found


def _findable(module: str, folder: Path) -> bool:
    """Whether ``module`` (top-level) can be imported by a call in ``folder``: found
    without being imported, so that checking runs none of its code."""
    if module in sys.modules:
        return True
    try:
        if importlib.util.find_spec(module) is not None:
            return True
    except (ImportError, ValueError):
        pass
    return importlib.machinery.PathFinder.find_spec(module, [str(folder)]) is not None


def _argv(command: object, where: str) -> tuple[str, ...]:
    if isinstance(command, str):
        try:
            parts: Sequence[object] = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"{where}: cannot split command: {exc}") from None
    elif isinstance(command, list | tuple):
        parts = command
    else:
        raise UsageError(f"{where}: command must be a list of strings or a string")
    if not parts or not all(isinstance(p, str) and p for p in parts):
        raise UsageError(f"{where}: command must be a non-empty list of non-empty strings")
    return tuple(str(p) for p in parts)
