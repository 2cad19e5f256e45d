"""The user's own git configuration, checked before libgit2 reads it.

Theory of operation: a checkout reads the user's git configuration files (global, XDG,
system), the files they include, and the ignore and attributes files they name or
that git looks for by default. A FIFO there makes libgit2, like git, wait for ever for
a writer that never comes; a device may never end. Anyone who can write the
user's home can plant one (a worker runs as the user), and every later worktree would
hang. So before a checkout each of these that exists must be a regular file (or a
folder, which git passes over, or /dev/null), or the operation is refused in one line
naming it. The files are found as libgit2 finds them
(its search path), and the includes and file names read from them by a plain scan of
``path``, ``excludesFile`` and ``attributesFile`` lines, which is enough to know what
git would open; the values themselves are libgit2's business.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pygit2

from gnp.core.errors import UsageError

_LINE = re.compile(r"^\s*(path|excludesfile|attributesfile)\s*=\s*(.*?)\s*$", re.IGNORECASE)
_MAX_INCLUDES = 10  # git's own limit on nested includes
_MAX_BYTES = 1 << 20  # a configuration file larger than this is not scanned for names


def check() -> None:
    """Raise :class:`UsageError` if a file of the user's git configuration that a
    checkout would read exists but is not a regular file."""
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "git"
    for config in _configs():
        for key, value in _scan(config, depth=0):
            _readable(_expand(value, config), f"the {key} your git configuration names")
    for default in ("ignore", "attributes"):
        _readable(xdg / default, "a file git reads by default")


def _configs() -> list[Path]:
    found = []
    for level, name in (
        (pygit2.enums.ConfigLevel.SYSTEM, "gitconfig"),
        (pygit2.enums.ConfigLevel.XDG, "config"),
        (pygit2.enums.ConfigLevel.GLOBAL, ".gitconfig"),
    ):
        for folder in (pygit2.settings.search_path[level] or "").split(os.pathsep):
            if folder:
                found.append(Path(folder) / name)
    return found


def _scan(config: Path, depth: int) -> Iterator[tuple[str, str]]:
    """The include paths and file names ``config`` (and what it includes) holds."""
    if not _readable(config, "a git configuration file") or depth > _MAX_INCLUDES:
        return
    try:
        with config.open("rb") as f:
            text = f.read(_MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        key, value = match[1].lower(), match[2].strip('"')
        if key == "path":  # an include: checked, and scanned in turn
            included = _expand(value, config)
            yield "include.path", str(included)
            yield from _scan(included, depth + 1)
        else:
            yield key, value


def _expand(value: str, config: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else config.parent / path


def _readable(path: Path, what: str) -> bool:
    """Whether ``path`` is a file git can read to its end (False: there is none, or it
    is a folder, which git passes over); raises if reading it would never end."""
    try:
        mode = path.stat().st_mode  # through links, as git opens it
    except (OSError, ValueError):
        return False
    if stat.S_ISREG(mode):
        return True
    if stat.S_ISDIR(mode):
        return False
    if stat.S_ISCHR(mode) and os.path.realpath(path) == os.devnull:
        return True  # empty, as "excludesFile = /dev/null" means
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket or device, not a file"
    raise UsageError(
        f"{path}, {what}, is {kind}: git would wait on it for ever, and so would gnp; "
        "make it a regular file, or remove it"
    )
