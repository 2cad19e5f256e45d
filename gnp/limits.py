"""What a delta may be: its size, its shape, and the files it may name.

Theory of operation: everything a worker sends is untrusted input that the engine will
parse, hold in memory and write into git. The limits bound the engine's cost per delta;
the file rules confine a delta to state files, so that no delta can reach the
protocol's own folder (``.gnp/``: keyring, ledger, archive), git's own files, or
anything outside the repository. A check that is relaxed here is a hole everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .errors import BadFile, Malformed

WORKER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")
PROTOCOL_DIR = ".gnp"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one delta. The defaults suit agents editing JSON state by hand."""

    max_bytes: int = 1 << 20
    max_ops: int = 1000
    max_depth: int = 64
    max_file_length: int = 255
    max_author_length: int = 256
    max_error_length: int = 4096

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, not {value!r}")


DEFAULT_LIMITS = Limits()


def check_worker(worker: object) -> str:
    """Return ``worker`` if it is a valid worker id, else raise :class:`Malformed`."""
    if not isinstance(worker, str) or not WORKER_ID.fullmatch(worker):
        raise Malformed(
            f"worker id {worker!r} is invalid: use 1-64 characters of a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return worker


def check_file(file: object, limits: Limits = DEFAULT_LIMITS) -> str:
    """Return ``file`` if a delta may touch it, else raise :class:`BadFile` saying why."""
    if not isinstance(file, str):
        raise BadFile(f"file must be a string, not {type(file).__name__}")
    problem = _file_problem(file, limits)
    if problem:
        raise BadFile(f"file {file!r} refused: {problem}")
    return file


@lru_cache(maxsize=8192)  # a frame names the same few files over and over
def _file_problem(file: str, limits: Limits) -> str | None:
    if not file:
        return "empty path"
    if len(file) > limits.max_file_length:
        return f"longer than {limits.max_file_length} characters"
    if "\x00" in file:
        return "contains NUL"
    if "\\" in file:
        return "contains a backslash; use '/' between folders"
    if _CONTROL.search(file):
        return "contains a control character"
    if file.startswith("/") or _DRIVE.match(file):
        return "absolute paths are not allowed; name the file relative to the repository root"
    if not file.endswith(".json"):
        return "state files end in .json"
    parts = file.split("/")
    if any(p == ".." for p in parts):
        return "'..' is not allowed"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' path segment"
    if parts[0].lower() == PROTOCOL_DIR:
        return f"{PROTOCOL_DIR}/ belongs to the protocol; deltas cannot touch it"
    if any(p.lower() == ".git" for p in parts):
        return ".git is not a state path"
    return None
