"""A frame's worker tasks on a Dask cluster, through prefect-dask's ``DaskTaskRunner``.

Theory of operation:

* Where a task runs. Each roster worker's task asks the scheduler for its key's
  resource (:mod:`gnp.frame.cluster`), which a Dask worker started with ``--preload
  gnp_tasks.cluster`` offers for every key in its ``$GNP_HOME``: the delta is signed
  where the key is, and no key moves. A worker whose key no process of the cluster
  offers is not sent (its task would wait for ever); it ends without an outcome, and
  the frame's own process signs its fallback if it holds the key, or reports it failed.
* The hub. The cluster's processes open the hub themselves, by what the flow was given:
  a path, made absolute, serves a cluster on this machine; a cluster of other machines
  needs the hub's URL.
* A process that dies. Dask runs a task whose process died again elsewhere (its
  ``allowed-failures``); a task that ends without an outcome anyway (its processes kept
  dying, say) gets a stand-in task, also where its key is, which leaves its fallback.
  Every attempt of a worker's run, and its stand-in, sign with the run's token, and none
  runs or signs once the run's verdict is in the inbox (:mod:`gnp.git.attempts`): one
  verdict per roster worker, whichever attempt delivered it.
* What Prefect shows. A task Dask gave up on ran in a process that died without a
  word to Prefect; once its workers are done, the frame marks such runs Crashed, so
  that none stays Running (:func:`mark_crashed`).
* Stopping. A frame's :class:`~gnp.process.stop.StopToken` is an event of this process,
  which does not travel (it would not pickle, and a copy would never be set). A frame
  told to stop cancels its futures instead: a task not yet started never starts; one
  running runs its command until it ends or its timeout (the roster's, enforced by the
  harness in the cluster's process) and delivers its verdict, which waits in the inbox
  for the next frame.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from distributed import Future
from prefect import Task, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask.task_runners import DaskTaskRunner, PrefectDaskFuture

from gnp.core.errors import describe
from gnp.frame.cluster import resource, shipped, unheld
from gnp.frame.pipeline import Attempt, Crashed, Pending, Submit
from gnp.frame.roster import Member
from gnp.frame.workers import WorkerOutcome
from gnp.git.connect import is_url, open_hub
from gnp_tasks.worker import run_worker, stand_in_worker


def runner_for(dask: str | None, max_workers: int) -> ThreadPoolTaskRunner[Any] | DaskTaskRunner:
    """The task runner of a frame's workers: the Dask cluster whose scheduler is at
    ``dask``, or, with none (or an empty one, as a deployment's form may send), a pool of
    ``max_workers`` threads of this process."""
    if dask is not None and dask.strip():
        return DaskTaskRunner(address=dask.strip())
    return ThreadPoolTaskRunner(max_workers=max(1, max_workers))


@contextlib.contextmanager
def on_cluster(runner: DaskTaskRunner, hub: str, worktrees: str | None) -> Iterator[Submit]:
    """The worker tasks on the cluster ``runner`` reaches (module doc)."""
    where = hub if is_url(hub) else os.path.abspath(hub)
    hub_id = open_hub(hub).state().hub_id
    with runner:
        client = runner.client
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        offers = [info.get("resources") or {} for info in workers]
        sent: list[Future[Any]] = []
        crashed: list[tuple[Any, str]] = []  # (task run, why), to say so in Prefect

        def send(task: Task[..., WorkerOutcome], member: Member, **params: Any) -> _Future:
            future = client.submit(  # type: ignore[no-untyped-call]
                task,
                parameters={"hub": where, **params},
                return_type="state",
                resources={resource(hub_id, member.id): 1},  # where its key is
            )
            sent.append(future)
            return _Future(wrapped_future=future, task_run_id=future.task_run_id)

        def submit(member: Member, run: str) -> Pending:
            if unheld([member], hub_id, offers):
                return lambda: Crashed(
                    f"no process of the Dask cluster at {runner.address} holds the key of "
                    f"{member.id}: start a Dask worker with --preload gnp_tasks.cluster "
                    "and that key in its GNP_HOME"
                )
            entry = shipped(member)
            first = send(
                run_worker, member, entry=entry, worktrees=worktrees, token=run, recheck=True
            )

            def wait() -> Attempt:
                ended = settled(first, crashed)
                if not isinstance(ended, Crashed):
                    return ended
                again = send(
                    stand_in_worker, member, worker=member.id, reason=ended.reason, token=run
                )
                fallback = settled(again, crashed)
                if isinstance(fallback, Crashed):
                    return Crashed(f"{ended.reason}; and its stand-in task: {fallback.reason}")
                return fallback

            return wait

        try:
            yield submit
        except BaseException:
            # The tasks not yet started never start (module doc).
            client.cancel(sent)  # type: ignore[no-untyped-call]
            raise
        mark_crashed(crashed)


_Future = PrefectDaskFuture[WorkerOutcome]


def settled(future: _Future, crashed: list[tuple[Any, str]]) -> Attempt:
    """The task's outcome, or why it ended without one (noted in ``crashed``)."""
    try:
        return future.result()
    except Exception as exc:  # its processes died, or the task failed in Prefect
        reason = f"worker task ended without an outcome: {describe(exc)}"
        crashed.append((future.task_run_id, reason))
        return Crashed(reason)


_SEEN_WITHIN = 20.0  # seconds for the server to record what a dead process last said


def mark_crashed(crashed: list[tuple[Any, str]]) -> None:
    """Say in Prefect that the tasks Dask gave up on crashed: the process that ran each
    died without saying so, and its run would show Running for ever. The server records
    a task's states from events, a moment after they happen: a run not there yet is
    waited for, a little; the Crashed state, the later, wins over what arrives after it.
    Best effort: the frame is merged whatever Prefect shows."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed as CrashedState

    deadline = time.monotonic() + _SEEN_WITHIN
    with get_client(sync_client=True) as client:
        for task_run, reason in crashed:
            try:
                while True:
                    try:
                        state = client.read_task_run(task_run).state
                        break
                    except ObjectNotFound:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
                if state is None or not state.is_final():
                    client.set_task_run_state(task_run, CrashedState(message=reason), force=True)
            except Exception as exc:
                get_run_logger().warning(
                    "could not mark task run %s crashed: %s", task_run, describe(exc)
                )
