"""Reading a file that anyone may have put where it is read: a roster, an ownership
record. Only a regular file is read, opened without blocking so that it can be looked
at first (a FIFO would block the reader, with nothing said), and no more than a bound of
it (a link to ``/dev/zero`` would be read until memory runs out).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotAFile(OSError):
    """Something other than a regular file (a FIFO, a device, a socket) is there."""


class TooLong(ValueError):
    """The file holds more than the reader will take."""


def read_bounded(path: str | Path, limit: int, *, follow: bool = True) -> bytes:
    """The whole of the regular file at ``path``, if it holds at most ``limit`` bytes.
    Raises what opening it raises (missing, no permission, a directory: OSError),
    :class:`NotAFile` or :class:`TooLong`. Without ``follow``, a symbolic link at
    ``path`` is refused (OSError, ELOOP) instead of read through."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotAFile(f"{path} is not a regular file")
        return read_open(fd, limit)
    except TooLong:
        raise TooLong(f"{path} is over {limit} bytes") from None
    finally:
        os.close(fd)


def read_open(fd: int, limit: int) -> bytes:
    """What is left to read of the open file ``fd``, if at most ``limit`` bytes; raises
    :class:`TooLong` otherwise, having read no more than ``limit + 1``."""
    chunks, size = [], 0
    while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise TooLong(f"the file is over {limit} bytes")
    return b"".join(chunks)
