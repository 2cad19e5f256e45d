"""A worker's edits: what its work left in the worktree, read from the files themselves.

Theory of operation: the work is untrusted and owns its worktree while it runs, so when
the command ends anything there may be anything, ``.git`` included: deleted,
re-initialised, or pointed at another repository (even the hub). What the work changed
is therefore found without the worktree's ``.git`` and without git's view of the folder:
the files on disk are walked and compared with the tree the worktree was made of, which
gnp holds in its own repository. So edits the work committed count like any other (the
files show them), and the user's git configuration (excludes, attributes, status
settings) plays no part in what is submitted.

Nothing is ever read through a symbolic link or from anything but a regular file: the
walk takes each entry as lstat(2) sees it and never descends into a linked folder; a
state file is read with a bounded read that refuses a link even if one appears between
the look and the open (``O_NOFOLLOW``) and never blocks on a FIFO. A link, a FIFO or a
device named like a state file is refused by name, and so is a hard link (a second name
of a file that may lie outside the worktree, which the work could read but not write). A
file the snapshot taken before the
work vouches for (:mod:`gnp.process.snapshot`) is not read at all; any other is compared
by kind and size first, and read only when it could equal its blob, no further than the
blob, and compared by hash.

A state file is refused, by name, before anything recurses through it when it nests
deeper than main may hold or holds a number JSON cannot carry (``1e400`` decodes to
infinity, which no delta can encode).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
from pathlib import Path
from typing import Any

import pygit2

from gnp.core import canonical
from gnp.core.diff import TooManyOps, diff_file
from gnp.core.document import ABSENT, MAX_DOCUMENT_DEPTH
from gnp.core.errors import BadFile, Malformed, TooLarge
from gnp.core.limits import Limits, check_file
from gnp.core.ops import Op
from gnp.git import trees
from gnp.host.files import TooLong, read_bounded, read_open
from gnp.process import snapshot
from gnp.process.snapshot import NOTHING, Entry, Snapshot, in_time

STATE_SUFFIX = ".json"
LINK = pygit2.enums.FileMode.LINK
# How much a state file may grow beyond twice its old size before it is not read: what a
# work adds must fit in one delta (limits.max_bytes), and the rest is room for reformatting.
GROWTH = 16


def changed(
    root: Path, tree: pygit2.Tree, before: Snapshot = NOTHING, deadline: float | None = None
) -> list[str]:
    """The paths under ``root`` that differ from ``tree``, sorted: new, changed, removed,
    or no longer what they were (a file that became a link, a FIFO or a folder). A file
    that ``before`` vouches for is not read. Raises :class:`OutOfTime` past ``deadline``."""
    on_disk = snapshot.scan(root, deadline)
    if before.tree != str(tree.id):  # a snapshot of another tree, or none: walk this one
        in_tree = dict(trees.blobs(tree))
        paths = {path for path in in_tree if path not in on_disk}
        for n, (path, entry) in enumerate(on_disk.items()):
            if n % 256 == 0:
                in_time(deadline)
            blob = in_tree.get(path)
            if blob is None or not (
                before.unchanged(path, entry) or _same(root, path, entry, blob, before)
            ):
                paths.add(path)
        return sorted(paths)
    # The checkout wrote exactly the tree's blobs, as the snapshot found them: what it
    # vouches for needs no look at the tree, and only the rest is looked up there.
    files, mark = before.files, before.mark_ns
    paths = set(files.keys() - on_disk.keys())
    for n, (path, entry) in enumerate(on_disk.items()):
        if n % 256 == 0:
            in_time(deadline)
        then = files.get(path)
        if then == entry and entry.ctime_ns < mark:  # Snapshot.unchanged, inline: per file
            continue
        blob = trees.blob(tree, path) if then is not None else None
        if blob is None or not _same(root, path, entry, blob, before):
            paths.add(path)
    return sorted(paths)


def _same(root: Path, rel: str, entry: Entry, blob: pygit2.Blob, before: Snapshot) -> bool:
    """Whether the file at ``rel`` under ``root`` holds ``blob``: by size first (the blob's as the
    checkout wrote it, so the blob is not loaded), then by hash, read no further."""
    if blob.filemode == LINK:
        return stat.S_ISLNK(entry.mode) and os.fsencode(os.readlink(root / rel)) == blob.data
    written = before.files.get(rel)
    size = written.size if written is not None else blob.size
    if not stat.S_ISREG(entry.mode) or entry.size != size:
        return False
    try:
        data = read_bounded(root / rel, size, follow=False)
    except (OSError, ValueError):  # gone, or replaced meanwhile: not what it was
        return False
    return pygit2.hash(data) == blob.id


def not_state_files(paths: list[str]) -> tuple[str, ...]:
    return tuple(path for path in paths if not path.endswith(STATE_SUFFIX))


def edits(
    root: Path,
    tree: pygit2.Tree,
    paths: list[str],
    types: dict[str, dict[str, str]],
    limits: Limits,
    *,
    merge_new: bool = True,
    deadline: float | None = None,
) -> list[Op]:
    """The operations that the edits under ``root`` to ``paths`` (:func:`changed`) make
    of ``tree``; raises Refused, naming the file, if they are unusable. Only state files
    count."""
    ops: list[Op] = []
    for path in paths:
        if not path.endswith(STATE_SUFFIX):
            continue
        in_time(deadline)
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # a name of bytes that are not UTF-8, as os gives it
            shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
            raise BadFile(f"{shown} is not named in UTF-8: name state files in UTF-8") from None
        check_file(path)
        data = trees.read(tree, path)
        old = ABSENT if data is None else canonical.decode(data)
        new = document_after(root, path, 0 if data is None else len(data), limits)
        try:
            ops.extend(_diff(path, old, new, types.get(path, {}), merge_new, limits))
        except RecursionError:
            raise TooLarge(
                f"{path} nests too deeply after the work for its edits to be worked out: flatten it"
            ) from None
    in_time(deadline)  # the last file's diff may have taken the rest of the time
    return ops


# How many operations one file's diff may make before it stops: enough for a delta's
# max_ops after fitted() adds new values whole, and bounded, so that a file of a million
# changed keys is refused in moments, not worked through for minutes.
DIFF_OPS = 4


def _diff(
    path: str, old: Any, new: Any, types: dict[str, str], merge_new: bool, limits: Limits
) -> list[Op]:
    bound = DIFF_OPS * limits.max_ops
    try:
        return diff_file(path, old, new, types, merge_new=merge_new, max_ops=bound)
    except TooManyOps:
        if not merge_new:
            raise
    try:  # new values made piece by piece may be too many; added whole, they may fit
        return diff_file(path, old, new, types, merge_new=False, max_ops=bound)
    except TooManyOps:
        raise TooLarge(
            f"{path}: the edits make more than {bound} operations, more than a delta can "
            f"carry ({limits.max_ops}): make smaller edits"
        ) from None


def document_after(root: Path, path: str, old_size: int, limits: Limits) -> Any:
    """The state file at ``path`` as the work left it (ABSENT: removed); raises Refused,
    naming it, if it is not a regular file holding JSON that a delta can carry."""
    try:
        fd = _open_within(root, path)
    except (FileNotFoundError, NotADirectoryError):  # removed, or its folder is a file now
        return ABSENT
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(root / path):
            raise BadFile(
                f"{path} is a symbolic link after the work, and gnp never follows links: "
                "leave a regular file there, or none"
            ) from None
        if exc.errno == errno.ELOOP:
            raise BadFile(
                f"{path} lies in a folder that is a symbolic link after the work, and gnp "
                "never follows links: leave a regular folder there, or none"
            ) from None
        with contextlib.suppress(OSError):  # a socket cannot be opened: say what it is
            mode = os.lstat(root / path).st_mode
            if not stat.S_ISREG(mode):
                raise BadFile(
                    f"{path} is {_kind(mode)} after the work, not a regular file: "
                    "leave a regular file there, or none"
                ) from None
        raise BadFile(
            f"{path} could not be read after the work ({exc.strerror or exc}): leave it readable"
        ) from None
    limit = 2 * old_size + GROWTH * limits.max_bytes
    try:
        info = os.fstat(fd)  # what was opened, not what the path names a moment later
        if not stat.S_ISREG(info.st_mode):
            raise BadFile(
                f"{path} is {_kind(info.st_mode)} after the work, not a regular file: "
                "leave a regular file there, or none"
            )
        if info.st_nlink > 1:
            raise BadFile(
                f"{path} is a hard link after the work (one of {info.st_nlink} names of one "
                "file, which may lie outside the worktree), and gnp reads only files of one "
                "name: write a new file there"
            )
        data = read_open(fd, limit)
    except TooLong:
        raise TooLarge(
            f"{path} is over {limit} bytes after the work, more than a delta can carry: "
            "make smaller edits"
        ) from None
    except OSError as exc:
        raise BadFile(
            f"{path} could not be read after the work ({exc.strerror or exc}): leave it readable"
        ) from None
    finally:
        os.close(fd)
    try:
        new = canonical.decode(data)
    except Malformed as exc:
        raise Malformed(f"{path} is not valid JSON after the work: {exc}") from None
    if canonical.depth(new, MAX_DOCUMENT_DEPTH) > MAX_DOCUMENT_DEPTH:
        raise TooLarge(
            f"{path} nests deeper than {MAX_DOCUMENT_DEPTH} levels after the work, deeper "
            "than a state file may: flatten it"
        )
    if not _finite(new):
        raise Malformed(
            f"{path} holds a number too large for JSON after the work (such as 1e400, "
            "which reads as infinity): write a finite number, or a string"
        )
    return new


def _open_within(root: Path, path: str) -> int:
    """``path`` under ``root`` opened for reading, one name at a time, none of them
    followed if it is a link (``O_NOFOLLOW`` on each): a folder of the path that became a
    link to somewhere else raises ELOOP, however late it was swapped in."""
    names = path.split("/")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names[:-1]:
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(names[-1], os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=folder)
    finally:
        os.close(folder)


def _finite(value: Any) -> bool:
    """Whether every number in ``value`` is finite (a stack: ``value`` may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        t = type(item)
        if t is float:
            if not math.isfinite(item):
                return False
        elif t is dict:
            stack.extend(item.values())
        elif t is list:
            stack.extend(item)
    return True


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
