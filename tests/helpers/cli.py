"""The installed ``gnp`` command, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GNP = str(Path(sys.executable).with_name("gnp"))  # the installed entry point


def cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``gnp ARGS`` with this environment (plus ``env``), in ``cwd`` (default: this
    process's folder); its output, as text."""
    return subprocess.run(
        [GNP, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
