"""The worker task: one roster worker's work, in its own worktree, in its own process;
and the stand-in task, which leaves a worker's fallback where its key is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.core.inert import inert
from gnp.frame.roster import member
from gnp.frame.workers import WorkerOutcome, stand_in, work
from gnp.git.connect import open_hub
from gnp.process.stop import StopToken


@task(name="worker", task_run_name="worker {entry[id]}", cache_policy=NO_CACHE)
def run_worker(
    hub: str,
    entry: dict[str, Any],
    worktrees: str | None = None,
    stop: StopToken | None = None,
    token: str | None = None,
    recheck: bool = False,
) -> WorkerOutcome:
    """Run one roster entry; its outcome (ok, fallback, unchanged, failed).

    The timeout is enforced on the work's process group by the harness: Prefect's own
    timeouts run on threads and cannot stop a blocking call. ``stop`` is the frame's: set,
    it stops the work's command, which then leaves a fallback (a token of this process:
    a task on a cluster gets none, and is cancelled instead). ``token`` is the frame's for
    this worker's run; with ``recheck`` (on a cluster, which may run a task again), an
    attempt that finds the run's verdict already delivered by an earlier one returns it
    and runs nothing (:mod:`gnp.git.attempts`).
    """
    who = member(entry)
    root = Path(worktrees) if worktrees else None
    outcome = work(open_hub(hub), who, root=root, stop=stop, token=token, recheck=recheck)
    logger = get_run_logger()
    logger.log(outcome.level, inert(outcome.line()))
    if outcome.output:  # line by line: its own lines stay lines, and nothing else passes
        shown = "\n".join(inert(line) for line in outcome.output.splitlines())
        logger.debug("%s printed:\n%s", who.id, shown)
    return outcome


@task(name="stand-in", task_run_name="stand-in {worker}", cache_policy=NO_CACHE)
def stand_in_worker(hub: str, worker: str, reason: str, token: str) -> WorkerOutcome:
    """The fallback of a worker whose task ended without an outcome, signed where its key
    is; or the verdict an attempt of its run delivered before it ended."""
    outcome = stand_in(open_hub(hub), worker, reason, token=token)
    get_run_logger().log(outcome.level, inert(outcome.line()))
    return outcome
