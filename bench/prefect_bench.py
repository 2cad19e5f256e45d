"""What Prefect costs a frame: 64 trivial workers as a flow run vs plain gnp functions.

    .venv/bin/python bench/prefect_bench.py [--workers 64] [--threads 8] [--repeat 5]
                                            [--work SECONDS]

Both sides run the same frame: the same roster, the same worker threads, the same
worktrees, harness, signing, pushes, merge and lineage. One side is
:func:`gnp.frame.pipeline.run_plain` (a ThreadPoolExecutor), the other the frame flow (Prefect tasks
on a ThreadPoolTaskRunner against a real Prefect server on loopback). Runs alternate,
so a noisy neighbour hurts both alike. Two more rows say where Prefect's cost goes: a
flow of zero workers (its fixed cost per frame) and a flow of 64 tasks that do nothing
(its cost per task). A trivial worker writes a new value into a file of its own; its
process is
``sh``, not Python, so that the harness and Prefect are what is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.prefect_server import PrefectServer

SERVER = PrefectServer()


def roster(n: int, seconds: float = 0.0) -> list[dict[str, Any]]:
    """Each worker writes a new value into a file of its own: one delta, no conflicts;
    with ``seconds``, it first waits that long, as an agent waiting on a model would."""
    edit = 'mkdir -p w && printf \'{"at": %s}\' "$(date +%s%N)" > "w/$GNP_WORKER.json"'
    if seconds:
        edit = f"sleep {seconds:g} && {edit}"
    return [{"id": f"w{i:03d}", "command": ["sh", "-c", edit]} for i in range(n)]


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=float, default=0.0, help="seconds each worker waits")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="runs log only warnings (default: as `gnp frame`, INFO to the server, none shown)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="gnp-prefect-bench-"))
    os.environ["GNP_HOME"] = str(folder / "home")
    # Worktrees go where they go in use: tmpfs (/dev/shm) when there is one. On this
    # machine's disk, a folder that churns through thousands of worktrees slows down.
    print(f"starting a Prefect server on loopback ({SERVER.url})", flush=True)
    SERVER.start()
    # The server was started quiet; the runs log as `gnp frame`'s do (gnp_cli.runs),
    # unless --quiet: Prefect reads this when it is first imported, in run().
    if not args.quiet:
        os.environ.pop("PREFECT_LOGGING_LEVEL", None)
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    try:
        run(folder, args.workers, args.threads, args.repeat, args.work)
    finally:
        SERVER.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the hub, keys and lineage of the run


def run(folder: Path, workers: int, threads: int, repeat: int, work: float) -> None:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.task_runners import ThreadPoolTaskRunner

    from gnp.core.verdict import Outcome
    from gnp.frame.pipeline import run_plain
    from gnp.frame.roster import parse
    from gnp.git.hub import Hub
    from gnp.git.registry import register
    from gnp_cli.runs import started_here
    from gnp_flows.frame import frame

    hub = Hub.init(folder / "hub.git")
    entries = roster(workers, work)
    for entry in entries:
        register(hub, entry["id"])
    members = parse(entries)

    @task(cache_policy=NO_CACHE)
    def nothing(i: int) -> int:
        return i

    @flow
    def tasks_only(n: int) -> None:
        with ThreadPoolTaskRunner(max_workers=threads) as runner:
            for future in [runner.submit(nothing, {"i": i}) for i in range(n)]:
                future.result()

    def plain() -> None:
        summary = run_plain(str(hub.path), members, max_workers=threads)
        assert summary.counts[Outcome.APPLIED] == workers, summary.counts

    def as_flow() -> None:
        summary = frame(str(hub.path), entries, max_workers=threads)
        assert summary.counts[Outcome.APPLIED] == workers, summary.counts

    def as_gnp_frame() -> None:
        with started_here():  # as `gnp frame` runs it: no heartbeats unless chosen
            as_flow()

    def empty() -> None:
        with started_here():
            frame(str(hub.path))

    def no_ops() -> None:
        with started_here():
            tasks_only(workers)

    rows: dict[str, list[float]] = {
        "plain run_plain": [],
        "frame flow, as gnp frame runs it": [],
        "frame flow, with heartbeats (Prefect's default)": [],
        "frame flow, 0 workers": [],
        f"flow of {workers} no-op tasks": [],
    }
    as_flow()  # warm up: imports, the server's first writes, the local repository
    plain()
    for i in range(repeat):
        print(f"round {i + 1}/{repeat}", flush=True)
        rows["plain run_plain"].append(timed(plain))
        rows["frame flow, as gnp frame runs it"].append(timed(as_gnp_frame))
        rows["frame flow, with heartbeats (Prefect's default)"].append(timed(as_flow))
        rows["frame flow, 0 workers"].append(timed(empty))
        rows[f"flow of {workers} no-op tasks"].append(timed(no_ops))

    base = statistics.median(rows["plain run_plain"])
    print(
        f"\n{workers} workers doing {work:g} s of work, {threads} threads, {repeat} rounds; "
        "median seconds per frame"
    )
    print("| run | median s | min s | x plain |\n|---|---:|---:|---:|")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {median / base:.2f} |")
    floor = statistics.median(rows[f"flow of {workers} no-op tasks"]) / base
    print(
        f"\nPrefect alone ({workers} tasks that do nothing) took {floor:.2f}x the plain frame; "
        "a goal of 1.5x leaves 0.50x for all that Prefect adds"
    )
    print("every round:", {name: [round(v, 2) for v in values] for name, values in rows.items()})
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the runs' last logs, while the server is still there


if __name__ == "__main__":
    main()
