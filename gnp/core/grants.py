"""Grants: the highest authority each worker may claim, and the state files it may write.

Theory of operation: the keyring binds a key to a worker; a grant binds a worker to what
its deltas may claim. Both are kept on ``main`` (``.gnp/grants.json`` beside
``.gnp/keyring.json``) and changed only by the hub's owner (``gnp grant``), never by a
worker's push. Every delta is held to the grant its worker has on the frame's base
commit (:func:`check`): its ``authority`` at most the grant's, and every file its
operations name (a ``test`` too: a test can make another delta lose) matched by one of
the grant's globs. A worker without a grant has :data:`NO_GRANT`: authority 0 and
every file, what any registered worker could do before grants, so hubs made before
them keep working.

Globs are matched name by name: a pattern and a path are split at ``/`` and each name
is matched by :func:`fnmatch.fnmatchcase` (``*`` any characters, ``?`` one, ``[seq]``
one of seq; case matters), so ``*`` never crosses a ``/``. A name ``**`` matches any
number of names, none included, as pathlib's ``full_match`` does from Python 3.13:
``**`` is every file, ``posts/**`` everything under ``posts/``, ``*.json`` only the
files at the top. What would break it: a glob that reads ``/`` as a character
(plain ``fnmatch`` does), or a grant read from anywhere but the base commit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from gnp.core.delta import MAX_AUTHORITY, Delta
from gnp.core.errors import Malformed, OverGrant
from gnp.core.limits import DEFAULT_LIMITS, PROTOCOL_DIR, check_worker

EVERY_FILE = "**"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class Grant:
    """What one worker may claim: an authority up to ``authority``, and the files that
    one of ``files`` (globs over state-file paths) matches."""

    authority: int = 0
    files: tuple[str, ...] = (EVERY_FILE,)

    def __post_init__(self) -> None:
        check_authority(self.authority)
        if not isinstance(self.files, tuple):
            raise Malformed("a grant's files are a list of globs")
        for pattern in self.files:
            check_glob(pattern)

    def covers(self, file: str) -> bool:
        """Whether the grant lets its worker write ``file``."""
        return any(matches(pattern, file) for pattern in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"authority": self.authority, "files": list(self.files)}

    def describe(self) -> str:
        """``authority 2, files posts/** and agents.json``: for messages and commits."""
        files = " and ".join(self.files) if self.files else "no file"
        return f"authority {self.authority}, files {files}"


@dataclass(frozen=True, slots=True)
class Grants:
    """Every worker's grant, as ``main`` keeps them; a worker not named has :data:`NO_GRANT`."""

    by_worker: Mapping[str, Grant] = field(default_factory=dict)

    def of(self, worker: str) -> Grant:
        return self.by_worker.get(worker, NO_GRANT)

    def replaced(self, worker: str, grant: Grant) -> Grants:
        """These grants, with ``worker``'s replaced by ``grant``."""
        return Grants({**self.by_worker, check_worker(worker): grant})

    def to_json(self) -> dict[str, Any]:
        return {worker: grant.to_json() for worker, grant in sorted(self.by_worker.items())}


def parse(data: object) -> Grants:
    """``.gnp/grants.json`` as :meth:`Grants.to_json` writes it; raises :class:`Malformed`
    naming what is wrong."""
    if not isinstance(data, dict):
        raise Malformed("grants are a JSON object: {worker: {authority, files}}")
    out = {}
    for worker, entry in data.items():
        check_worker(worker)
        if not isinstance(entry, dict):
            raise Malformed(f"the grant of {worker!r} is not a JSON object")
        unknown = entry.keys() - {"authority", "files"}
        if unknown:
            raise Malformed(f"the grant of {worker!r} has unknown field(s): {sorted(unknown)}")
        files = entry.get("files", [EVERY_FILE])
        if not isinstance(files, list):
            raise Malformed(f"the grant of {worker!r}: files must be a list of globs")
        try:
            out[worker] = Grant(entry.get("authority", 0), tuple(files))
        except Malformed as exc:
            raise Malformed(f"the grant of {worker!r}: {exc}") from None
    return Grants(out)


def check_authority(authority: object) -> int:
    """``authority`` if a grant may give it: a whole number from 0 to the most a delta
    may claim."""
    if type(authority) is not int or not 0 <= authority <= MAX_AUTHORITY:
        raise Malformed(
            f"a granted authority is a whole number from 0 to {MAX_AUTHORITY}, not {authority!r}"
        )
    return authority


def check_glob(pattern: object) -> str:
    """``pattern`` if it is a glob over state-file paths; raises :class:`Malformed` saying why."""
    if not isinstance(pattern, str):
        raise Malformed(f"a glob is a string, not {type(pattern).__name__}")
    problem = _glob_problem(pattern)
    if problem:
        raise Malformed(f"glob {pattern!r} refused: {problem}")
    return pattern


def _glob_problem(pattern: str) -> str | None:
    if not pattern:
        return "it is empty"
    if len(pattern) > DEFAULT_LIMITS.max_file_length:
        return f"longer than {DEFAULT_LIMITS.max_file_length} characters"
    if _CONTROL.search(pattern):
        return "it contains a control character"
    if "\\" in pattern:
        return "it contains a backslash; use '/' between folders"
    if pattern.startswith("/") or _DRIVE.match(pattern):
        return "it is absolute; globs are relative to the repository root"
    for name in pattern.split("/"):
        if name in ("", ".", ".."):
            return "an empty, '.' or '..' name"
        if "**" in name and name != "**":
            return "'**' must be a whole name between slashes"
        if name.lower() in (PROTOCOL_DIR, ".git"):
            return f"{name} is not state; a grant covers state files only"
    return None


@lru_cache(maxsize=8192)  # a frame asks about the same few files and globs over and over
def matches(pattern: str, file: str) -> bool:
    """Whether the glob ``pattern`` matches the state file ``file`` (see the module's
    docstring)."""
    names = pattern.split("/")
    parts = file.split("/")
    # reach[j]: the first j parts are matched by the names seen so far.
    reach = [True] + [False] * len(parts)
    for name in names:
        if name == "**":
            for j in range(1, len(reach)):
                reach[j] = reach[j] or reach[j - 1]
        else:
            reach = [False] + [reach[j] and fnmatchcase(parts[j], name) for j in range(len(parts))]
    return reach[-1]


NO_GRANT = Grant()


def check(delta: Delta, grant: Grant) -> None:
    """Raise :class:`OverGrant` unless ``delta`` keeps within ``grant``."""
    check_claim(delta.worker, delta.authority, grant)
    for file in dict.fromkeys(op.file for op in delta.ops):
        if not grant.covers(file):
            raise OverGrant(
                f"{delta.worker!r} may not write {file!r}: its grant covers "
                f"{' and '.join(grant.files) or 'no file'}; the hub's owner can widen it "
                f"(gnp grant --files)"
            )


def check_claim(worker: str, authority: int, grant: Grant) -> None:
    """Raise :class:`OverGrant` if ``worker`` claims more authority than ``grant`` gives."""
    if authority > grant.authority:
        raise OverGrant(
            f"{worker!r} claims authority {authority}, but its grant allows at most "
            f"{grant.authority}; the hub's owner can raise it (gnp grant --authority)"
        )
