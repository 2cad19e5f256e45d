"""Entry points for tests that need real, separate processes:
``python -m tests.helpers.procs CMD ARGS...``."""

from __future__ import annotations

import sys
import time


def submit_incr(hub_path: str, worker: str, count: int) -> None:
    """One worker submitting ``count`` increments of stats.json:/count."""
    from gnp import Op, compose
    from gnp.git.connect import open_hub
    from gnp.git.inbox import submit
    from gnp.host import clock, keys

    hub = open_hub(hub_path)
    key = keys.load(hub.state().hub_id, worker)
    for _ in range(count):
        frame = hub.state().frame
        ops = [Op("incr", "stats.json", "/count", 1)]
        submit(hub, key.sign(compose(worker, ops, frame=frame, stamp=clock.stamp())))


def engine_loop(hub_path: str, seconds: float) -> None:
    """An engine merging frames back to back for ``seconds``."""
    from gnp.git.connect import open_hub
    from gnp.git.engine import run_frame

    hub = open_hub(hub_path)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        run_frame(hub)


def worktree_cycles(hub_path: str, worker: str, cycles: int) -> None:
    """Create and remove a worktree ``cycles`` times; print failures, exit 1 if any."""
    from gnp.git.connect import open_hub
    from gnp.git.local import LocalRepo
    from gnp.process.worktree import worktree

    local = LocalRepo.for_hub(open_hub(hub_path))
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
    from gnp.git.connect import open_hub
    from gnp.git.local import LocalRepo
    from gnp.process.worktree import create

    wt = create(LocalRepo.for_hub(open_hub(hub_path)), worker)
    print(wt.path, flush=True)
    time.sleep(600)


def commit_then_die(hub_path: str, worker: str, token: str = "") -> None:
    """Commit a signed delta on the worker's branch and die before pushing it; with a
    ``token``, as an attempt of a frame's run whose token it is."""
    _one_delta_then_die(hub_path, worker, push=False, token=token or None)


def deliver_then_die(hub_path: str, worker: str) -> None:
    """Deliver a delta to the hub and die before removing the worktree and branch."""
    _one_delta_then_die(hub_path, worker, push=True)


def _one_delta_then_die(
    hub_path: str, worker: str, *, push: bool, token: str | None = None
) -> None:
    import os

    from gnp import Op, compose
    from gnp.git.connect import open_hub
    from gnp.git.local import LocalRepo
    from gnp.host import clock, keys
    from gnp.process.run import commit_on_branch, deliver
    from gnp.process.worktree import create

    hub = open_hub(hub_path)
    local = LocalRepo.for_hub(hub)
    wt = create(local, worker, token=token)
    key = keys.load(hub.state().hub_id, worker)
    ops = [Op("incr", "stats.json", "/count", 1)]
    delta = key.sign(compose(worker, ops, frame=0, stamp=clock.stamp(token)))
    (deliver if push else commit_on_branch)(local, wt, delta)
    print(delta.id, flush=True)
    os._exit(9)  # killed before the push, or before its cleanup


def unchanged_then_die(hub_path: str, worker: str) -> None:
    """Run work that changes nothing, and die as the harness removes its worktree."""
    import os

    from gnp.git.connect import open_hub
    from gnp.process import run as harness

    harness._cleaned_up = lambda wt, result: os._exit(9)  # type: ignore[assignment]
    harness.run(open_hub(hub_path), worker, ["true"])


def frame_of(runner: str, hub_path: str, roster_json: str) -> None:
    """One frame with the given roster (stopped by tests), run by ``runner``: ``plain``
    (gnp's functions) or ``flow`` (the frame flow, against $PREFECT_API_URL)."""
    import json

    roster = json.loads(roster_json)
    if runner == "flow":
        from gnp_flows.frame import frame

        frame(hub_path, roster)
        return
    from gnp.frame.pipeline import run_plain
    from gnp.frame.roster import parse

    run_plain(hub_path, parse(roster))


def run_work(hub_path: str, worker: str, marker: str, token: str = "") -> None:
    """Run a worker's command that never ends on its own (to be killed meanwhile); with a
    ``token``, as an attempt of a frame's run whose token it is."""
    from gnp.git.connect import open_hub
    from gnp.process.run import run

    command = ["sh", "-c", f"touch {marker}; sleep 600; sleep 600"]
    run(open_hub(hub_path), worker, command, nonce=token or None)


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    function = globals()[name]
    converted = [
        int(a) if a.isdigit() else float(a) if a.replace(".", "").isdigit() else a for a in args
    ]
    function(*converted)
