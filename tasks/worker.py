"""The worker task: one roster worker's work, in its own worktree, in its own process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.hub import Hub
from gnp.roster import member
from gnp.workers import work

# Each worker's outcome as it finishes, for whoever runs the frame in this process and
# wants to show progress (``gnp frame`` does); the run logger has it for Prefect's UI.
OUTCOMES = logging.getLogger("gnp.worker")
OUTCOMES.addHandler(logging.NullHandler())
OUTCOMES.setLevel(logging.INFO)
OUTCOMES.propagate = False  # shown where a handler is attached, and nowhere else


@task(name="worker", task_run_name="worker {entry[id]}", cache_policy=NO_CACHE)
def run_worker(hub: str, entry: dict[str, Any], worktrees: str | None = None) -> dict[str, Any]:
    """Run one roster entry; its outcome (ok, fallback, unchanged, failed) as JSON.

    The timeout is enforced on the work's process group by the harness: Prefect's own
    timeouts run on threads and cannot stop a blocking call.
    """
    who = member(entry)
    outcome = work(Hub.open(hub), who, root=Path(worktrees) if worktrees else None)
    logger = get_run_logger()
    note = f": {outcome.error}" if outcome.error else ""
    message = f"{who.id} {outcome.status} in {outcome.seconds:.2f} s{note}"
    level = logging.INFO if outcome.status in ("ok", "unchanged") else logging.WARNING
    logger.log(level, message)
    OUTCOMES.log(level, message)
    if outcome.output:
        logger.debug("%s printed:\n%s", who.id, outcome.output)
    return outcome.to_json()
