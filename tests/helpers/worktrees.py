"""Worker processes to kill, and what they leave behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from gnp.process import owners
from gnp.process.owners import Owner
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until


def proc(*args: str, **kw: object) -> subprocess.Popen[str]:
    """``python -m tests.helpers.procs ARGS``: one of the entry points there, in a process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.procs", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )  # type: ignore[call-overload]


def records(local: LocalRepo) -> list[Owner]:
    return owners.read_all(local.path)


def leftovers(local: LocalRepo) -> list[str]:
    """Every worktree, gnp branch and ownership record the local repository holds."""
    repo = local.repo
    out = [f"worktree {n}" for n in repo.list_worktrees()]
    out += [f"branch {r}" for r in repo.references if r.startswith("refs/heads/gnp/")]
    out += [f"owner {o.name}" for o in records(local)]
    return out


def killed_run(
    hub: Hub,
    local: LocalRepo,
    tmp_path: Path,
    sessions: list[int],
    worker: str = "w",
    token: str = "",
) -> Owner:
    """Run ``worker``'s command (a long sleep) under the harness of ``gnp run`` and SIGKILL
    the harness while the command runs; return the ownership record it left. With a
    ``token``, the run is an attempt of a frame's run whose token it is."""
    marker = tmp_path / f"started-{worker}"
    harness = proc("run_work", str(hub.path), worker, str(marker), token)
    try:
        wait_until(
            lambda: marker.exists() and any(o.session is not None for o in records(local)),
            "the work started, and its record names it",
            60,
        )
        [owner] = records(local)
        assert owner.session is not None
        sessions.append(owner.session)
    finally:
        harness.kill()
        harness.wait(timeout=30)
    return owner
