"""Telling work on other threads to stop.

Signals reach only a process's main thread. A frame's workers run on a pool of threads,
each waiting on a command of its own, so when the main thread is interrupted (SIGTERM,
Ctrl-C) it sets the frame's :class:`StopToken`; each worker looks at it while its
command runs, kills the command and leaves a fallback saying it was stopped. One token
per frame, passed down: two frames run by one process (a notebook, say) stop apart.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from gnp.process.worktree import install_traps


class StopToken:
    """Set once, when the work it was given to should stop."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def stop(self) -> None:
        self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()


@contextlib.contextmanager
def stopping_on_interrupt(token: StopToken) -> Iterator[None]:
    """Around waiting, in the main thread, for work running on other threads: set the
    traps from here (signal handlers can only be set here) and, if this thread is
    interrupted, stop the work ``token`` was given to, so that it stops its commands and
    leaves fallbacks instead of running on to its timeouts."""
    install_traps()
    try:
        yield
    except BaseException:
        token.stop()
        raise
