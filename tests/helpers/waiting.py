"""Waiting, in tests, for something another process does, or for it to end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, seconds: float = 120) -> None:
    """Return once ``condition()`` holds; fail the test, saying ``what`` never came,
    after ``seconds`` (generous: the machines that run the suite are small and shared)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {seconds:g} s"
        time.sleep(0.05)


def stop_group(process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Stop the process group ``process`` leads (started with ``start_new_session``):
    SIGTERM, up to ``seconds`` for it to end as it chooses, then SIGKILL to whatever is
    left in the group (the runs it started, say)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=seconds)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
