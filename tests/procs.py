"""Entry points for tests that need real, separate processes: python -m tests.procs CMD ..."""

from __future__ import annotations

import sys
import time


def submit_incr(hub_path: str, worker: str, count: int) -> None:
    """One worker submitting ``count`` increments of stats.json:/count."""
    from gnp import Op, compose, keys
    from gnp.hub import Hub
    from gnp.inbox import submit

    hub = Hub.open(hub_path)
    key = keys.load(hub.state().hub_id, worker)
    for _ in range(count):
        frame = hub.state().frame
        submit(hub, key.sign(compose(worker, [Op("incr", "stats.json", "/count", 1)], frame=frame)))


def engine_loop(hub_path: str, seconds: float) -> None:
    """An engine merging frames back to back for ``seconds``."""
    from gnp.engine import run_frame
    from gnp.hub import Hub

    hub = Hub.open(hub_path)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        run_frame(hub)


def worktree_cycles(hub_path: str, worker: str, cycles: int) -> None:
    """Create and remove a worktree ``cycles`` times; print failures, exit 1 if any."""
    from gnp.hub import Hub
    from gnp.local import LocalRepo
    from gnp.worktree import worktree

    local = LocalRepo.for_hub(Hub.open(hub_path))
    failures = 0
    for _ in range(cycles):
        try:
            with worktree(local, worker) as wt:
                assert (wt.path / ".git").exists()
        except Exception as exc:  # report every failure, keep counting
            failures += 1
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1 if failures else 0)


def hold_worktree(hub_path: str, worker: str) -> None:
    """Make a worktree, say where it is, and wait to be killed."""
    from gnp.hub import Hub
    from gnp.local import LocalRepo
    from gnp.worktree import create

    wt = create(LocalRepo.for_hub(Hub.open(hub_path)), worker)
    print(wt.path, flush=True)
    time.sleep(600)


def commit_then_die(hub_path: str, worker: str) -> None:
    """Commit a signed delta on the worker's branch and die before pushing it."""
    _one_delta_then_die(hub_path, worker, push=False)


def deliver_then_die(hub_path: str, worker: str) -> None:
    """Deliver a delta to the hub and die before removing the worktree and branch."""
    _one_delta_then_die(hub_path, worker, push=True)


def _one_delta_then_die(hub_path: str, worker: str, *, push: bool) -> None:
    import os

    from gnp import Op, compose, keys
    from gnp.hub import Hub
    from gnp.local import LocalRepo
    from gnp.run import commit_on_branch, deliver
    from gnp.worktree import create

    hub = Hub.open(hub_path)
    local = LocalRepo.for_hub(hub)
    wt = create(local, worker)
    key = keys.load(hub.state().hub_id, worker)
    delta = key.sign(compose(worker, [Op("incr", "stats.json", "/count", 1)], frame=0))
    (deliver if push else commit_on_branch)(local, wt, delta)
    print(delta.id, flush=True)
    os._exit(9)  # killed before the push, or before its cleanup


def unchanged_then_die(hub_path: str, worker: str) -> None:
    """Run work that changes nothing, and die as the harness removes its worktree."""
    import os

    from gnp import run as harness
    from gnp.hub import Hub

    harness._cleaned_up = lambda wt, result: os._exit(9)  # type: ignore[assignment]
    harness.run(Hub.open(hub_path), worker, ["true"])


def frame_of(hub_path: str, roster_json: str) -> None:
    """One frame of plain functions with the given roster (stopped by tests)."""
    import json

    from gnp import frames
    from gnp.hub import Hub
    from gnp.roster import parse

    frames.run(Hub.open(hub_path), parse(json.loads(roster_json)))


def run_work(hub_path: str, worker: str, marker: str) -> None:
    """Run a worker's command that never ends on its own (to be killed meanwhile)."""
    from gnp.hub import Hub
    from gnp.run import run

    run(Hub.open(hub_path), worker, ["sh", "-c", f"touch {marker}; sleep 600; sleep 600"])


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    function = globals()[name]
    converted = [
        int(a) if a.isdigit() else float(a) if a.replace(".", "").isdigit() else a for a in args
    ]
    function(*converted)
