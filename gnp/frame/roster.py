"""The roster of a frame: which workers run, what each runs, with what authority and time.

A roster is plain JSON, so it can be a flow or deployment parameter:

    [{"id": "poster", "call": "agents.social:post", "authority": 0, "timeout": 60},
     {"id": "claude", "command": ["claude", "-p", "tidy the stats"], "timeout": 600}]

``call`` names a Python callable ``module:function``; it runs in a process of its own,
in the worker's worktree, and is given the worktree's path. ``command`` is an argv list
(or a string, split like a shell would, never run by one). Running in a process is what
lets a timeout stop blocking work: threads cannot be interrupted.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gnp.core import canonical
from gnp.core.errors import GnpError, Malformed, UsageError
from gnp.core.limits import check_worker
from gnp.frame import call
from gnp.host import files

DEFAULT_TIMEOUT = 600.0  # seconds; a worker that hangs must not hold the frame forever
_CALL = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_KEYS = frozenset({"id", "call", "command", "authority", "timeout"})


@dataclass(frozen=True, slots=True)
class Member:
    """One worker of the roster."""

    id: str
    call: str | None = None
    command: tuple[str, ...] = ()
    authority: int = 0
    timeout: float = DEFAULT_TIMEOUT

    def argv(self) -> list[str]:
        """The process that does this worker's work."""
        if self.call is not None:
            return call.command(self.call)
        return list(self.command)

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
        return out


def member(entry: object, index: int = 0) -> Member:
    """One roster entry, checked; raises UsageError naming the entry and the problem."""
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
    return Member(worker, call, argv, authority, float(timeout))


def parse(entries: object) -> list[Member]:
    """A whole roster; worker ids must be distinct (one delta per worker per frame)."""
    if entries is None:
        return []
    if not isinstance(entries, list | tuple):
        raise UsageError("a roster is a JSON list of workers")
    members = [member(entry, i) for i, entry in enumerate(entries)]
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
        return parse(canonical.decode(data))
    except GnpError as exc:  # not JSON, or not a roster
        raise UsageError(f"roster {path}: {exc}") from None


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
