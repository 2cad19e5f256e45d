"""The frame flow: one frame of the protocol as one Prefect flow run.

The frame's steps are gnp's (:func:`gnp.frame.pipeline.run`); here each runs as a task:
the roster's workers fan out on a thread pool of task runs (each in its own worktree, at
most ``max_workers`` at once), or, given a Dask scheduler's address (``dask``), on that
cluster's processes, each worker's task where its key is (:mod:`gnp.frame.cluster`);
then, in the flow's own process, collect-inbox takes the boundary, merge runs the
engine, lineage writes the frame's rows and publish-summary makes the artifact. Deltas
pushed to the inbox from anywhere else merge in the same frame; a roster of zero
workers is a valid frame that merges only the inbox.

The run ends Completed, or Failed when the frame failed (every roster worker fell back,
say: :attr:`gnp.frame.summary.FrameSummary.failure`) although it was merged, recorded
and published like any other: a caller of the flow then gets
:class:`~gnp.frame.summary.FrameFailed`, which carries the summary. A roster refused
before the frame starts (:func:`gnp.frame.roster.check`) fails the run with nothing done.

Each run has a name of its own that starts with its frame's: ``frame-9``, or
``frame-9-2`` when another run of the same hub was named ``frame-9`` already (cancelled,
say, or failed and run again); ``frame-10-empty`` when there was nothing to merge.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, cast

from prefect import flow, get_run_logger, runtime
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask.task_runners import DaskTaskRunner

from gnp.core.inert import inert
from gnp.frame import pipeline
from gnp.frame.pipeline import Attempt, Crashed, Pending, Submit, run_name, same_hub
from gnp.frame.roster import Member, parse
from gnp.frame.summary import FrameFailed, FrameSummary
from gnp.frame.workers import WorkerOutcome
from gnp.git.connect import open_hub
from gnp.git.engine import FrameReport
from gnp.process.stop import StopToken
from gnp_flows.cluster import on_cluster, runner_for
from gnp_tasks.artifact import publish
from gnp_tasks.inbox import collect
from gnp_tasks.lineage import record
from gnp_tasks.merge import merge
from gnp_tasks.worker import run_worker


def next_frame_name(hub: str) -> str:
    return f"frame-{open_hub(hub).state().frame + 1}"


def _run_name() -> str:
    """Never raises: a run that cannot be named would stay Pending instead of failing
    with the reason (a missing hub, say) where its logs can show it."""
    try:
        hub = runtime.flow_run.parameters["hub"]
        base = next_frame_name(hub)
    except Exception:
        return "frame"
    return _own_name(base, hub)


SUFFIXES = 64  # names asked about: frame-9, frame-9-2 ... frame-9-64; then the run's id


def _own_name(base: str, hub: str) -> str:
    """``base`` or ``base-N``, unless another run of this hub has it (best effort: a
    name is for people, and a server that cannot be asked leaves ``base``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
    )

    own = str(runtime.flow_run.id)
    candidates = [base, *(f"{base}-{n}" for n in range(2, SUFFIXES + 1))]
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["gnp-frame"])),
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=candidates)),
            )
    except Exception:
        return base
    taken = [r.name for r in runs if str(r.id) != own and same_hub(r.parameters.get("hub"), hub)]
    name = run_name(base, taken)
    return name if name in candidates else f"{base}-{own[:8]}"


@flow(name="gnp-frame", flow_run_name=_run_name)
def frame(
    hub: str,
    roster: list[dict[str, Any]] | None = None,
    max_workers: int = 8,
    lineage: str | None = None,
    worktrees: str | None = None,
    dask: str | None = None,
) -> FrameSummary:
    """Run one frame on ``hub``; return its summary.

    Args:
        hub: the hub, a path or a git URL.
        roster: the workers: [{"id", "call" or "command", "authority", "timeout", "cwd"}];
            their paths resolve from their cwd, or from this process's folder.
        max_workers: how many worker tasks run at once.
        lineage: where lineage goes (a folder or a pyarrow URI); default: by the hub.
        worktrees: where worktrees go; default: tmpfs when there is one.
        dask: the address of a Dask scheduler (tcp://host:8786) whose workers run the
            roster's worker tasks; default: a thread pool in this process. The cluster's
            processes open the hub themselves: across machines, give it as a URL.
    """
    summary = pipeline.run(
        hub,
        parse(roster),
        TaskSteps(dask),
        max_workers=max_workers,
        lineage=lineage,
        worktrees=worktrees,
    )
    _rename(hub, summary)
    logger = get_run_logger()
    logger.info(summary.headline())
    if summary.failure is not None:
        logger.error(inert(summary.failure))
        # Prefect ends the run in the state the flow returns; whoever called the flow
        # gets the state's data raised: FrameFailed, holding the summary.
        failed: State[Any] = Failed(message=inert(summary.failure), data=FrameFailed(summary))
        return cast(FrameSummary, failed)
    if summary.warning is not None:
        logger.warning(inert(summary.warning))
    return summary


class TaskSteps:
    """The frame's steps, each a task run of this flow run; the workers' on a Dask
    cluster when given its scheduler's address."""

    def __init__(self, dask: str | None = None) -> None:
        self.dask = dask

    @property
    def run_id(self) -> str | None:
        run_id: str | None = runtime.flow_run.id
        return run_id

    def workers(
        self, hub: str, max_workers: int, worktrees: str | None, stop: StopToken
    ) -> contextlib.AbstractContextManager[Submit]:
        runner = runner_for(self.dask, max_workers)
        if isinstance(runner, DaskTaskRunner):
            return on_cluster(runner, hub, worktrees)
        return on_threads(runner, hub, worktrees, stop)

    def boundary(self, hub: str) -> list[str]:
        return collect(hub)

    def merge(self, hub: str, refs: list[str]) -> FrameReport:
        return merge(hub, refs)

    def lineage(self, hub: str, frame: int, where: str | None, seconds: float) -> str:
        return record(hub, frame, where, self.run_id, seconds)

    def publish(self, summary: FrameSummary, key: str) -> None:
        publish(summary, key)


@contextlib.contextmanager
def on_threads(
    pool: ThreadPoolTaskRunner[Any], hub: str, worktrees: str | None, stop: StopToken
) -> Iterator[Submit]:
    """The worker tasks on a pool of threads of this process."""
    with pool as runner:

        def submit(member: Member, run: str) -> Pending:
            future = runner.submit(
                run_worker,
                {
                    "hub": hub,
                    "entry": member.to_json(),
                    "worktrees": worktrees,
                    "stop": stop,
                    "token": run,
                },
            )
            return lambda: attempt(future)

        yield submit


def attempt(future: PrefectFuture[WorkerOutcome]) -> Attempt:
    """The worker task's outcome, or why the task ended without one."""
    future.wait()
    state = future.state
    if state.is_completed():
        return future.result()
    return Crashed(
        f"worker task {(state.name or 'failed').lower()}: {state.message or 'no message'}"
    )


def _rename(hub: str, summary: FrameSummary) -> None:
    """The run was named for the frame it expected; say what it became (best effort: the
    frame is merged whatever its run is called)."""
    name = runtime.flow_run.name
    try:
        number = summary.frame or open_hub(hub).state().frame + 1
    except Exception:  # the hub was there a moment ago; a name is not worth failing for
        return
    base = f"frame-{number}" if summary.frame is not None else f"frame-{number}-empty"
    if summary.flow_run_id is None or re.fullmatch(re.escape(base) + r"(-[0-9a-f]+)?", name):
        return
    actual = _own_name(base, hub)
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(summary.flow_run_id, name=actual)  # type: ignore[arg-type]
    except Exception as exc:
        get_run_logger().warning("could not rename the flow run to %s: %s", actual, exc)
