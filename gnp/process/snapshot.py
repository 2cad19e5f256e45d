"""What a worktree held when its work began, so that unchanged files need not be read.

Theory of operation: after the checkout, and before the work starts, every file of the
worktree is stat'ed (never through a link) and its device, inode, size, modification
time and change time are kept in this process's memory. Afterwards a file whose five
are all as they were is the file gnp wrote, byte for byte, and is not read again.

The change time (ctime) is what makes this hold against work that is not trusted: the
work can set a file's modification time (``touch -d``, utime(2)) but not its change
time, which the kernel sets to the current time on every write, truncation, chmod,
link or utime, and which no call sets to a chosen value. A file replaced by another
has another inode, or, when the inode number is reused, a change time of its creation.

The clock that sets change times is coarse: a write in the same tick as the checkout's
would leave the change time as it was. So the snapshot also notes the clock at its end
(the change time of a file made and removed there, on the same filesystem), and trusts
only files whose change time is earlier than that: every write by the work happens after
the snapshot, so it gives a change time at or after the mark, never the one recorded.
A file written in the mark's own tick is read and compared, as git treats a "racily
clean" index entry. (A clock stepped back while the work runs could, at worst, hide an
edit of the work's own; it cannot change what another worker submitted.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gnp.core.errors import BadFile, Refused

GIT = ".git"  # the worktree's own, at its top: git's, whatever the work made of it


class Entry(NamedTuple):
    """What is at one path of the worktree, as lstat(2) says: never through a link. A
    tuple, as a scan makes one per file and compares them all."""

    mode: int
    size: int
    device: int
    inode: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> Entry:
        return cls(
            info.st_mode,
            info.st_size,
            info.st_dev,
            info.st_ino,
            info.st_mtime_ns,
            info.st_ctime_ns,
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The worktree's files when the work began, and the clock just after."""

    files: dict[str, Entry]
    mark_ns: int  # change times from here on may be the work's
    # The tree checked out just before, if the files are exactly its blobs: then what is
    # not on disk after the work is what it removed, found without walking the tree.
    tree: str | None = None

    def unchanged(self, path: str, now: Entry) -> bool:
        """Whether the file at ``path`` is surely the one gnp wrote, without reading it."""
        then = self.files.get(path)
        return then is not None and then == now and then.ctime_ns < self.mark_ns


NOTHING = Snapshot({}, 0)  # trusts no file: each is read and compared


def take(root: Path, tree: str | None = None) -> Snapshot:
    """The snapshot of the worktree at ``root``; call it after the checkout, before the
    work. ``tree``: the id of the tree whose blobs the checkout wrote there, and nothing
    else."""
    files = scan(root)
    fd, marker = tempfile.mkstemp(dir=root, prefix=".gnp-mark-")
    try:
        mark_ns = os.fstat(fd).st_ctime_ns
    finally:
        os.close(fd)
        os.unlink(marker)
    return Snapshot(files, mark_ns, tree)


class OutOfTime(Refused):
    """The run's ``--timeout`` passed while gnp read what the work left."""

    code = "timeout"


def in_time(deadline: float | None) -> None:
    """Raise :class:`OutOfTime` once ``deadline`` (of ``time.monotonic``) has passed: the
    run's timeout covers the harness's reading too, however many files the work made."""
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime(
            "the run's --timeout passed while gnp read the work's edits (it left too many "
            "files, or too large): make fewer edits, or give the run more time"
        )


def scan(root: Path, deadline: float | None = None) -> dict[str, Entry]:
    """Every entry under ``root`` but folders, by its path there; links are listed,
    never followed, and the top-level ``.git`` is skipped."""
    try:
        is_folder = stat.S_ISDIR(os.lstat(root).st_mode)
    except FileNotFoundError:
        is_folder = False
    if not is_folder:
        raise BadFile(f"the worktree {root} is gone after the work: leave it in place")
    found: dict[str, Entry] = {}
    folders = [""]
    while folders:  # a stack, not recursion: the work may nest folders thousands deep
        prefix = folders.pop()
        in_time(deadline)
        try:
            # Each name stat'ed relative to its folder, opened once: one lstat a file,
            # the floor of a walk (git's status makes the same calls).
            fd = _open_folder(root, prefix)
        except PermissionError as exc:
            raise _unreadable(prefix, exc) from None
        except OSError as exc:  # swapped for a file or a link while being walked: as such
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP, errno.ENOENT) or not prefix:
                raise
            with contextlib.suppress(FileNotFoundError):
                found[prefix[:-1]] = Entry.of(os.lstat(root / prefix[:-1]))
            continue
        try:
            for name in os.listdir(fd):
                if not prefix and name == GIT:
                    continue
                try:
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:  # removed meanwhile
                    continue
                if stat.S_ISDIR(info.st_mode):
                    folders.append(f"{prefix}{name}/")
                else:
                    found[prefix + name] = Entry.of(info)
        except PermissionError as exc:
            raise _unreadable(prefix, exc) from None
        finally:
            os.close(fd)
    return found


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _open_folder(root: Path, prefix: str) -> int:
    """The folder ``prefix`` under ``root``, opened one name at a time, none followed if
    it is a link: a folder swapped for a link to elsewhere, at any depth, is not entered
    (ELOOP or ENOTDIR), however late it was swapped."""
    fd = os.open(root, _FOLDER)
    try:
        for name in prefix.split("/")[:-1]:
            inner = os.open(name, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unreadable(prefix: str, exc: OSError) -> BadFile:
    folder = prefix.rstrip("/") or "."
    return BadFile(
        f"the folder {folder} of the worktree could not be read after the work "
        f"({exc.strerror}): leave it readable"
    )
