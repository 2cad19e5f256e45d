"""The git configuration libgit2 reads, checked before it reads it.

Theory of operation: opening a repository, and a checkout, read git configuration files
(the system's, the user's global and XDG ones, the repository's own), the files they
include, and the ignore and attributes files they name or that git reads by default
(``~/.config/git/ignore``, ``info/exclude``...). A FIFO there makes libgit2, like git,
wait for ever for a writer that never comes, and a device may never end. Anyone who can
write the user's home or gnp's repositories can plant one (a worker runs as the user),
and every later gnp command would hang. So before libgit2 reads them, each of these
that exists must be a regular file (or a folder, which git passes over, or /dev/null),
or the command is refused in one line naming it. Includes nested deeper than git allows
are refused as git refuses them, before they are followed round a loop.

The files are found as libgit2 finds them (its search path), and what they name by a
plain reading of ``[include]``/``[includeIf]`` ``path`` and ``[core]`` ``excludesFile``
and ``attributesFile`` lines: enough to know what git would open; the values themselves
are libgit2's business. A file planted after the check is not seen; the check is made
each time a hub or a worktree is opened, which bounds how long that can last.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pygit2

from gnp.core.errors import UsageError

_SECTION = re.compile(r'^\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"[^"]*")?\s*\]')
_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*?)\s*$")
_NAMES = {("include", "path"), ("includeif", "path")}
_FILES = {("core", "excludesfile"), ("core", "attributesfile")}
MAX_INCLUDES = 10  # git's own limit on nested includes
_MAX_BYTES = 1 << 20  # a configuration file is read this far for what it names


def check(*repositories: str | Path) -> None:
    """Raise :class:`UsageError` if a file of the git configuration that libgit2 reads
    for ``repositories`` (and the user's) exists but is not one it can read to its end."""
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "git"
    named: set[str] = set()
    seen: set[Path] = set()
    configs = _user_configs() + [Path(r) / name for r in repositories for name in _OWN]
    for config in configs:
        for key, path in _scan(config, (), seen):
            named.add(key)
            _readable(path, f"the {key} a git configuration names")
    for key, default in (("excludesfile", "ignore"), ("attributesfile", "attributes")):
        if key not in named:
            _readable(xdg / default, "a file git reads by default")
    for repository in repositories:
        for name in ("info/exclude", "info/attributes"):
            _readable(Path(repository) / name, "a file git reads in gnp's repository")


_OWN = ("config", "config.worktree")  # a repository's own configuration files


def _user_configs() -> list[Path]:
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


def _scan(config: Path, chain: tuple[Path, ...], seen: set[Path]) -> Iterator[tuple[str, Path]]:
    """The files ``config`` names, and those its includes name, as (key, path); ``chain``
    holds the files that include it. Each file is read once: it names the same files
    wherever it is included."""
    if config in chain or len(chain) > MAX_INCLUDES:
        raise UsageError(
            f"{config} is included more than {MAX_INCLUDES} deep in your git configuration "
            "(git refuses that too): remove the loop of include.path"
        )
    if config in seen or not _readable(config, "a git configuration file"):
        return
    seen.add(config)
    try:
        with config.open("rb") as f:
            text = f.read(_MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return
    section = ""
    for line in text.splitlines():
        header = _SECTION.match(line)
        if header is not None:
            section = header[1].lower()
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        key = (section, match[1].lower())
        if key not in _NAMES and key not in _FILES:
            continue
        path = _expand(_value(match[2]), config)
        if key in _NAMES:  # an include: checked, and read in turn
            yield "include.path", path
            yield from _scan(path, (*chain, config), seen)
        else:
            yield key[1], path


def _value(raw: str) -> str:
    """A value as git reads it, near enough: quotes taken off, a comment cut."""
    if raw.startswith('"'):
        return raw[1:].split('"', 1)[0]
    return re.split(r"\s*[;#]", raw, maxsplit=1)[0]


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
