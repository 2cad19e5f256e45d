"""The frame flow: one frame of the protocol as one Prefect flow run.

Fan out the roster's worker tasks (each in its own worktree, at most ``max_workers`` at
once), gather their outcomes (a task that failed or crashed gets an empty fallback delta
that says why), take the boundary, merge, write lineage, publish the summary. Deltas
pushed to the inbox from anywhere else merge in the same frame; a roster of zero
workers is a valid frame that merges only the inbox.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from gnp.frames import lineage_root
from gnp.hub import Hub
from gnp.lineage import check_writable
from gnp.roster import Member, parse
from gnp.summary import headline, summarize
from gnp.workers import WorkerOutcome, stand_in
from gnp.worktree import stopping_on_interrupt
from tasks.artifact import publish
from tasks.inbox import collect
from tasks.lineage import record
from tasks.merge import merge
from tasks.worker import run_worker


def next_frame_name(hub: str) -> str:
    return f"frame-{Hub.open(hub).state().frame + 1}"


def _run_name() -> str:
    """Never raises: a run that cannot be named would stay Pending instead of failing
    with the reason (a missing hub, say) where its logs can show it."""
    try:
        return next_frame_name(runtime.flow_run.parameters["hub"])
    except Exception:
        return "frame"


@flow(name="gnp-frame", flow_run_name=_run_name)
def frame(
    hub: str,
    roster: list[dict[str, Any]] | None = None,
    max_workers: int = 8,
    lineage: str | None = None,
    worktrees: str | None = None,
) -> dict[str, Any]:
    """Run one frame on ``hub``; return its summary (see gnp.summary).

    Args:
        hub: the hub, a path or a git URL.
        roster: the workers: [{"id", "call" or "command", "authority", "timeout"}].
        max_workers: how many worker tasks run at once.
        lineage: where lineage goes (a folder or a pyarrow URI); default: by the hub.
        worktrees: where worktrees go; default: tmpfs when there is one.
    """
    started = time.perf_counter()
    members = parse(roster)
    opened = Hub.open(hub)
    check_writable(lineage_root(opened, lineage))  # never a frame without lineage
    outcomes = fan_out(hub, members, max_workers, worktrees) if members else []
    report = merge(hub, collect(hub))
    seconds = time.perf_counter() - started
    run_id = runtime.flow_run.id
    where = None
    if report.frame is not None:
        where = record(hub, report.frame, lineage, run_id, seconds)
    summary = summarize(report, outcomes, lineage=where, flow_run_id=run_id, seconds=seconds)
    publish(summary, artifact_key(opened))
    _rename(run_id, report.frame)
    get_run_logger().info(headline(summary))
    return summary


def fan_out(
    hub: str, members: list[Member], max_workers: int, worktrees: str | None
) -> list[WorkerOutcome]:
    pool: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=max(1, max_workers))
    with pool as runner, stopping_on_interrupt():
        futures = [
            runner.submit(run_worker, {"hub": hub, "entry": m.to_json(), "worktrees": worktrees})
            for m in members
        ]
        return [gather(hub, m, f) for m, f in zip(members, futures, strict=True)]


def gather(hub: str, member: Member, future: PrefectFuture[dict[str, Any]]) -> WorkerOutcome:
    """The worker's outcome; a task that failed or crashed gets a fallback delta instead."""
    future.wait()
    state = future.state
    if state.is_completed():
        return WorkerOutcome(**future.result())
    reason = f"worker task {(state.name or 'failed').lower()}: {state.message or 'no message'}"
    try:
        opened = Hub.open(hub)
    except Exception as exc:  # the others' outcomes must still be gathered and reported
        return WorkerOutcome(member.id, "failed", None, None, f"{reason}; hub: {exc}", 0.0)
    return stand_in(opened, member.id, reason)


def artifact_key(hub: Hub) -> str:
    """One artifact key per hub (lowercase letters, digits and dashes, as Prefect asks)."""
    return f"gnp-frame-{hub.state().hub_id[:12].lower()}"


def _rename(run_id: str | None, number: int | None) -> None:
    """The run was named for the frame it expected; say what it became (best effort: the
    frame is merged whatever its run is called)."""
    name = runtime.flow_run.name
    actual = f"frame-{number}" if number is not None else f"{name}-empty"
    if run_id is None or name == actual:
        return
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, name=actual)  # type: ignore[arg-type]
    except Exception as exc:
        get_run_logger().warning("could not rename the flow run to %s: %s", actual, exc)
