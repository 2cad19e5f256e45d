"""The frame flow: one frame of the protocol as one Prefect flow run.

The frame's steps are gnp's (:func:`gnp.frame.pipeline.run`); here each runs as a task:
the roster's workers fan out on a thread pool of task runs (each in its own worktree, at
most ``max_workers`` at once), then collect-inbox takes the boundary, merge runs the
engine, lineage writes the frame's rows and publish-summary makes the artifact. Deltas
pushed to the inbox from anywhere else merge in the same frame; a roster of zero
workers is a valid frame that merges only the inbox.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from gnp.frame import pipeline
from gnp.frame.pipeline import Attempt, Crashed, Pending, Submit
from gnp.frame.roster import Member, parse
from gnp.frame.summary import FrameSummary
from gnp.frame.workers import WorkerOutcome
from gnp.git.connect import open_hub
from gnp.git.engine import FrameReport
from gnp.process.stop import StopToken
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
) -> FrameSummary:
    """Run one frame on ``hub``; return its summary.

    Args:
        hub: the hub, a path or a git URL.
        roster: the workers: [{"id", "call" or "command", "authority", "timeout"}].
        max_workers: how many worker tasks run at once.
        lineage: where lineage goes (a folder or a pyarrow URI); default: by the hub.
        worktrees: where worktrees go; default: tmpfs when there is one.
    """
    summary = pipeline.run(
        hub,
        parse(roster),
        TaskSteps(),
        max_workers=max_workers,
        lineage=lineage,
        worktrees=worktrees,
    )
    _rename(summary.flow_run_id, summary.frame)
    get_run_logger().info(summary.headline())
    return summary


class TaskSteps:
    """The frame's steps, each a task run of this flow run."""

    @property
    def run_id(self) -> str | None:
        run_id: str | None = runtime.flow_run.id
        return run_id

    @contextlib.contextmanager
    def workers(
        self, hub: str, max_workers: int, worktrees: str | None, stop: StopToken
    ) -> Iterator[Submit]:
        pool: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=max(1, max_workers))
        with pool as runner:

            def submit(member: Member) -> Pending:
                future = runner.submit(
                    run_worker,
                    {"hub": hub, "entry": member.to_json(), "worktrees": worktrees, "stop": stop},
                )
                return lambda: attempt(future)

            yield submit

    def boundary(self, hub: str) -> list[str]:
        return collect(hub)

    def merge(self, hub: str, refs: list[str]) -> FrameReport:
        return merge(hub, refs)

    def lineage(self, hub: str, frame: int, where: str | None, seconds: float) -> str:
        return record(hub, frame, where, self.run_id, seconds)

    def publish(self, summary: FrameSummary, key: str) -> None:
        publish(summary, key)


def attempt(future: PrefectFuture[WorkerOutcome]) -> Attempt:
    """The worker task's outcome, or why the task ended without one."""
    future.wait()
    state = future.state
    if state.is_completed():
        return future.result()
    return Crashed(
        f"worker task {(state.name or 'failed').lower()}: {state.message or 'no message'}"
    )


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
