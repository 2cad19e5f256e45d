"""The rule for tests that meet a real part (sshd, nginx, a Dask cluster, a Prefect
worker, Chromium): outside CI a missing part skips the test with a one-line reason; with
``CI`` set it fails it, because ``.ci/run`` installs every part these tests need and a
skip there would hide a test that never ran."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def missing(reason: str) -> None:
    """Skip, or fail under CI, with ``reason`` (one line: what is missing and why)."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


def need(*programs: str) -> dict[str, str]:
    """Each program's path (a name on PATH or an absolute path), or skip/fail naming
    those that are absent."""
    found = {
        p: shutil.which(p) or (p if os.path.isabs(p) and os.access(p, os.X_OK) else None)
        for p in programs
    }
    absent = [p for p, path in found.items() if path is None]
    if absent:
        missing(f"needs {', '.join(absent)}, not installed here")
    return {p: path for p, path in found.items() if path is not None}
