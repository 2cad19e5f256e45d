"""What a delta may be: its size, its shape, and the files it may name.

Theory of operation: everything a worker sends is untrusted input that the engine will
parse, hold in memory and write into git. The limits bound the engine's cost per delta;
the file rules confine a delta to state files, so that no delta can reach the
protocol's own folder (``.gnp/``: keyring, ledger, archive), git's own files, or
anything outside the repository. A check that is relaxed here is a hole everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .errors import BadFile, Malformed

WORKER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# C0 and C1 controls, and what Windows refuses in a name (':' also makes NTFS streams).
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"|?*]')
# Characters macOS (HFS+) ignores in names, and bidirectional overrides: ".g\u200cit" is
# ".git" there, and "\u202e" makes a name read backwards.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]")
_DRIVE = re.compile(r"[A-Za-z]:")
_SHORT_NAME = re.compile(r"(?i)(git|gnp)~\d+")  # NTFS 8.3 names of .git and .gnp
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)]
)
MAX_SEGMENT_BYTES = 255  # most filesystems' limit on one name
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
    if (
        not isinstance(worker, str)
        or not WORKER_ID.fullmatch(worker)
        or ".." in worker  # git refuses these in a ref name: refs/gnp/inbox/<worker>/...
        or worker.endswith((".lock", "."))
    ):
        raise Malformed(
            f"worker id {worker!r} is invalid: use 1-64 characters of a-z 0-9 . _ -, "
            "starting with a letter or digit, without '..' or a final '.' or '.lock'"
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
    if file.startswith("/") or _DRIVE.match(file):
        return "absolute paths are not allowed; name the file relative to the repository root"
    if _BAD_CHARS.search(file):
        return 'contains a control character or one of < > : " | ? *'
    if _INVISIBLE.search(file):
        return "contains an invisible or direction-changing character"
    if unicodedata.normalize("NFC", file) != file:
        return "is not in Unicode NFC form (write composed characters)"
    if not file.endswith(".json"):
        return "state files end in .json"
    parts = file.split("/")
    if any(p == ".." for p in parts):
        return "'..' is not allowed"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' path segment"
    for part in parts:
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"a name is longer than {MAX_SEGMENT_BYTES} bytes"
        if part != part.rstrip(". "):
            return "a name ends in a dot or a space, which Windows drops"
        if part.split(".")[0].lower() in _RESERVED:
            return f"{part!r} is a reserved device name on Windows"
        stem = part.lower()
        if stem in (".git", PROTOCOL_DIR) or _SHORT_NAME.fullmatch(stem):
            return (
                f"{PROTOCOL_DIR}/ belongs to the protocol; deltas cannot touch it"
                if "gnp" in stem
                else ".git is not a state path"
            )
    if any(p.lower().endswith(".json") for p in parts[:-1]):
        return "a folder name cannot end in .json (it would collide with a state file)"
    return None
