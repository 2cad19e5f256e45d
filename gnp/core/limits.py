"""What a delta may be: its size, its shape, and the files it may name.

Theory of operation: everything a worker sends is untrusted input that the engine will
parse, hold in memory and write into git. The limits bound the engine's cost per delta;
the file rules confine a delta to state files, so that no delta can reach the
protocol's own folder (``.gnp/``: keyring, ledger, archive), git's own files, or
anything outside the repository. A check that is relaxed here is a hole everywhere.

A state file's name is also one spelling of one file everywhere: its names use the
alphabet of worker ids (lowercase ``a-z``, ``0-9``, ``.``, ``_``, ``-``). So no two state
files differ only in case (``State.json`` and ``state.json`` are one file on macOS and
Windows, and a worktree there would hold one of them), none is a Unicode look-alike of
another (Cyrillic ``\u0430`` for ``a``, fullwidth letters) or another normal form of it (NFD
``é``, which HFS+ stores as NFC), and a rule about a name cannot be passed by spelling
the name another way. The specific rules come first, so that a refusal says what is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from gnp.core.errors import BadFile, Malformed

WORKER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# C0 and C1 controls, and what Windows refuses in a name (':' also makes NTFS streams).
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"|?*]')
# Characters macOS (HFS+) ignores in names, and bidirectional overrides: ".g\u200cit" is
# ".git" there, and "\u202e" makes a name read backwards.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]")
# The alphabet of a state file's names: that of worker ids (see the theory above).
_NAME_CHARS = re.compile(r"[a-z0-9._-]+")
_DRIVE = re.compile(r"[A-Za-z]:")
_SHORT_NAME = re.compile(r"(?i)(git|gnp)~\d+")  # NTFS 8.3 names of .git and .gnp
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)]
)
MAX_SEGMENT_BYTES = 255  # most filesystems' limit on one name
MAX_INT_BITS = 13_000  # about 3,900 digits: Python refuses to print more than 4,300
PROTOCOL_DIR = ".gnp"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one delta, on what it may produce, and on a frame's documents. The
    defaults suit agents editing JSON state by hand.

    A delta is small on the wire, but a ``copy`` can double a document, so what a delta
    creates is bounded too: the bytes its operations add (``max_growth``, a copy counting
    what it copies), the size a state file may reach (``max_document_bytes``) and what
    one frame may add across its files (``max_frame_growth``). Sizes are of compact JSON,
    measured as :func:`gnp.core.canonical.extent` does.

    A delta's ``utc`` is its worker's own claim, and it orders deltas and breaks ties
    between equal authorities; so the engine admits it only within a window around its
    own clock (:func:`gnp.core.admit.check_clock`), in seconds: ``max_utc_behind`` back
    and ``max_utc_ahead`` forward, both bounds included.
    """

    max_bytes: int = 1 << 20
    max_ops: int = 1000
    max_depth: int = 64
    max_file_length: int = 255
    max_author_length: int = 256
    max_error_length: int = 4096
    max_growth: int = 16 << 20
    max_document_bytes: int = 64 << 20
    max_frame_growth: int = 128 << 20
    # A day back: a delta waits in the inbox for the next frame (minutes, when frames are
    # scheduled), or on its worker's branch until `gnp janitor` pushes it; a day covers
    # an engine stopped overnight, and an older delta is better made again on today's
    # state. Five minutes forward: clocks kept by NTP agree to well under a second, and
    # five minutes is what Kerberos tolerates between machines.
    max_utc_behind: int = 24 * 3600
    max_utc_ahead: int = 5 * 60

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
    problem = _file_problem(file, limits.max_file_length)
    if problem:
        # ascii(): a look-alike or an invisible character is shown as its escape, so the
        # reason never reads as the name it imitates.
        raise BadFile(f"file {file!a} refused: {problem}")
    return file


# Cached by the one limit it reads, not by Limits, whose hash costs more than the lookup.
@lru_cache(maxsize=8192)  # a frame names the same few files over and over
def _file_problem(file: str, max_length: int) -> str | None:
    if not file:
        return "empty path"
    if len(file) > max_length:
        return f"longer than {max_length} characters"
    for broken, why in _PATH_RULES:
        if broken(file):
            return why
    parts = file.split("/")
    for spoilt, said in _PARTS_RULES:
        if spoilt(parts):
            return said
    for part in parts:
        for broken, why in _NAME_RULES:
            if broken(part):
                return why.format(name=part)
    if any(p.lower().endswith(".json") for p in parts[:-1]):
        return "a folder name cannot end in .json (it would collide with a state file)"
    if not all(_NAME_CHARS.fullmatch(p) for p in parts):
        return (
            "state file names use lowercase a-z, 0-9, '.', '_' and '-' only, so that a "
            "name is one file on every filesystem and looks like no other"
        )
    return None


# The rules a state file's path must keep, as (broken, why): the first broken one is the
# reason given. Whole paths first, then their names between slashes, one by one.
Rule = tuple[Callable[[str], bool], str]
_PATH_RULES: tuple[Rule, ...] = (
    (lambda f: "\x00" in f, "contains NUL"),
    (lambda f: "\\" in f, "contains a backslash; use '/' between folders"),
    (
        lambda f: f.startswith("/") or _DRIVE.match(f) is not None,
        "absolute paths are not allowed; name the file relative to the repository root",
    ),
    (
        lambda f: _BAD_CHARS.search(f) is not None,
        'contains a control character or one of < > : " | ? *',
    ),
    (
        lambda f: _INVISIBLE.search(f) is not None,
        "contains an invisible or direction-changing character",
    ),
    (
        lambda f: unicodedata.normalize("NFC", f) != f,
        "is not in Unicode NFC form (write composed characters)",
    ),
    (lambda f: not f.endswith(".json"), "state files end in .json"),
)
_PARTS_RULES: tuple[tuple[Callable[[list[str]], bool], str], ...] = (
    (lambda parts: ".." in parts, "'..' is not allowed"),
    (lambda parts: "" in parts or "." in parts, "empty or '.' path segment"),
)
_NAME_RULES: tuple[Rule, ...] = (  # "{name}" in a reason is the name
    (
        lambda n: len(n.encode("utf-8")) > MAX_SEGMENT_BYTES,
        f"a name is longer than {MAX_SEGMENT_BYTES} bytes",
    ),
    (lambda n: n != n.rstrip(". "), "a name ends in a dot or a space, which Windows drops"),
    (
        lambda n: n.split(".")[0].lower() in _RESERVED,
        "{name!r} is a reserved device name on Windows",
    ),
    (
        lambda n: (
            n.lower() == PROTOCOL_DIR
            or (_SHORT_NAME.fullmatch(n.lower()) is not None and "gnp" in n.lower())
        ),
        f"{PROTOCOL_DIR}/ belongs to the protocol; deltas cannot touch it",
    ),
    (
        lambda n: n.lower() == ".git" or _SHORT_NAME.fullmatch(n.lower()) is not None,
        ".git is not a state path",
    ),
)
