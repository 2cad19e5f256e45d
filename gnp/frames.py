"""One frame from end to end with plain functions: the workers, the boundary, the merge,
the lineage. The Prefect frame flow (``flows/frame.py``) runs these same steps as tasks;
this version serves the library, the tests, and the benchmark that prices Prefect.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import lineage as lineage_store
from .engine import FrameReport, boundary, run_frame
from .hub import Hub
from .replay import frame_record
from .roster import Member
from .summary import summarize
from .workers import WorkerOutcome, stand_in, work
from .worktree import stopping_on_interrupt


def lineage_root(hub: Hub, where: str | None = None) -> str:
    """Where the hub's lineage goes: ``where`` if given, else the hub's default."""
    if where:
        return where
    return lineage_store.default_root(hub.path, hub.state().hub_id, remote=hub.url is not None)


def record_lineage(
    hub: Hub,
    frame: int,
    where: str | None = None,
    *,
    flow_run_id: str | None = None,
    seconds: float | None = None,
) -> str:
    """Write frame ``frame``'s lineage rows (replacing any earlier write); return the path.

    Earlier frames whose rows are missing (an engine stopped between merging a frame and
    writing its lineage) are written too: lineage is derived from the hub, so it can
    always be caught up. Their run's id and timing are not known any more.
    """
    root = lineage_root(hub, where)
    rows = lineage_store.rows(
        frame_record(hub, frame), flow_run_id=flow_run_id, frame_seconds=seconds
    )
    path = lineage_store.write(root, rows, frame)
    earlier = frame - 1
    while earlier >= 1 and frame - earlier <= MAX_CATCH_UP:
        if lineage_store.has_frame(root, earlier):
            break
        lineage_store.write(root, lineage_store.rows(frame_record(hub, earlier)), earlier)
        earlier -= 1
    return path


MAX_CATCH_UP = 100  # frames of missing lineage written at once, newest first


def run_workers(
    hub: Hub, members: Sequence[Member], *, max_workers: int = 8, root: Path | None = None
) -> list[WorkerOutcome]:
    """Each worker in its own worktree, at most ``max_workers`` at once, on threads."""
    if not members:
        return []
    where = hub.url or str(hub.path)
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool, stopping_on_interrupt():
        # One Hub per worker: a pygit2 repository is not to be shared between threads.
        futures = [pool.submit(work, Hub.open(where), m, root=root) for m in members]
        outcomes = []
        for m, future in zip(members, futures, strict=True):
            try:
                outcomes.append(future.result())
            except Exception as exc:  # work() reports failures; this is a last resort
                outcomes.append(stand_in(hub, m.id, f"{type(exc).__name__}: {exc}"))
        return outcomes


def run(
    hub: Hub,
    members: Sequence[Member] = (),
    *,
    max_workers: int = 8,
    lineage: str | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Run one whole frame; return its summary (:func:`gnp.summary.summarize`)."""
    started = time.perf_counter()
    lineage_store.check_writable(lineage_root(hub, lineage))
    outcomes = run_workers(hub, members, max_workers=max_workers, root=root)
    report: FrameReport = run_frame(hub, within=boundary(hub))
    seconds = time.perf_counter() - started
    where = None
    if report.frame is not None:
        where = record_lineage(hub, report.frame, lineage, seconds=seconds)
    return summarize(report, outcomes, lineage=where, seconds=seconds)
