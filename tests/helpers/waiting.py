"""Waiting, in tests, for something another process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, seconds: float = 120) -> None:
    """Return once ``condition()`` holds; fail the test, saying ``what`` never came,
    after ``seconds`` (generous: the machines that run the suite are small and shared)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {seconds:g} s"
        time.sleep(0.05)
