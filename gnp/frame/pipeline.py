"""A frame, step by step, written once.

Theory of operation: one frame is

1. its lineage location, checked writable, and its roster checked
   (:func:`gnp.frame.roster.check`: registered workers, programs that exist), before
   anything runs: a frame is never on ``main`` without its lineage, and a roster that
   cannot work is refused in one line instead of failing worker by worker;
2. the roster's workers, each in its own worktree, at most ``max_workers`` at once; each
   ends in one outcome, and a worker whose run ended without one (its task crashed, say)
   gets its fallback here, from :func:`gnp.frame.workers.stand_in`;
3. the boundary: the inbox as it is once every worker has ended (deltas pushed later
   wait for the next frame);
4. the merge, held to that boundary;
5. the frame's lineage rows, if it merged a frame;
6. its summary, published; it says whether the frame failed (every roster worker fell
   back, say: :attr:`gnp.frame.summary.FrameSummary.failure`), which the flow turns into
   a Failed run after everything is recorded.

Each worker's run has a token (:mod:`gnp.git.attempts`) that every attempt of it, and
its fallback here, sign with: a run attempted twice (its process died, and a cluster ran
it again) still ends in one verdict.

A stop (SIGTERM, Ctrl-C) while the workers run sets the frame's :class:`StopToken`
before anything waits for them, so they stop their commands and leave fallbacks.

How each step runs is the caller's (:class:`Steps`): :class:`PlainSteps` calls the
functions directly, the workers on a thread pool; the frame flow (``gnp_flows.frame``)
runs each step as a Prefect task. Both go through :func:`run`, so they share the order,
the boundary and the failure handling.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gnp.frame.roster import Member, check
from gnp.frame.summary import FrameSummary
from gnp.frame.workers import WorkerOutcome, stand_in, work
from gnp.git.attempts import token
from gnp.git.connect import is_url, open_hub
from gnp.git.engine import FrameReport, boundary, run_frame
from gnp.git.hub import Hub
from gnp.lineage.frames import lineage_root, record_lineage
from gnp.lineage.store import check_writable
from gnp.process.stop import StopToken, stopping_on_interrupt


@dataclass(frozen=True, slots=True)
class Crashed:
    """A worker's run that ended without an outcome: why."""

    reason: str


Attempt = WorkerOutcome | Crashed
Pending = Callable[[], Attempt]  # waits for one worker, and says how it ended
Submit = Callable[[Member, str], Pending]  # starts one worker's run, given the run's token


class Steps(Protocol):
    """How the steps of a frame run. ``hub`` is where the hub is (a path or a URL): each
    step opens it for itself, as a task in another thread or process must."""

    @property
    def run_id(self) -> str | None:
        """The run that runs the frame, if there is one to name (a flow run)."""

    def workers(
        self, hub: str, max_workers: int, worktrees: str | None, stop: StopToken
    ) -> AbstractContextManager[Submit]:
        """A pool of workers, open for the ``with`` block; gone (every worker ended) after."""

    def boundary(self, hub: str) -> list[str]: ...

    def merge(self, hub: str, refs: list[str]) -> FrameReport: ...

    def lineage(self, hub: str, frame: int, where: str | None, seconds: float) -> str: ...

    def publish(self, summary: FrameSummary, key: str) -> None: ...


def run(
    hub: str,
    members: Sequence[Member],
    steps: Steps,
    *,
    max_workers: int = 8,
    lineage: str | None = None,
    worktrees: str | None = None,
) -> FrameSummary:
    """Run one whole frame of ``hub``, each step as ``steps`` runs it."""
    started = time.perf_counter()
    opened = open_hub(hub)
    check_writable(lineage_root(opened, lineage))
    check(members, opened.state().keyring_text, hub)
    outcomes = fan_out(opened, hub, members, steps, max_workers, worktrees)
    report = steps.merge(hub, steps.boundary(hub))
    seconds = time.perf_counter() - started
    where = None
    if report.frame is not None:
        where = steps.lineage(hub, report.frame, lineage, seconds)
    summary = FrameSummary.of(
        report, outcomes, lineage=where, flow_run_id=steps.run_id, seconds=seconds
    )
    steps.publish(summary, artifact_key(opened))
    return summary


def fan_out(
    opened: Hub,
    hub: str,
    members: Sequence[Member],
    steps: Steps,
    max_workers: int,
    worktrees: str | None,
) -> list[WorkerOutcome]:
    """Every member's outcome. An interrupt while they run stops them first (the token is
    set before the pool waits for them), then goes on up."""
    if not members:
        return []
    stop = StopToken()
    tokens = [token() for _ in members]
    with steps.workers(hub, max_workers, worktrees, stop) as submit, stopping_on_interrupt(stop):
        pending = [submit(member, run) for member, run in zip(members, tokens, strict=True)]
        ended = [wait() for wait in pending]
    return [outcome(opened, m, a, run) for m, a, run in zip(members, ended, tokens, strict=True)]


def outcome(hub: Hub, member: Member, attempt: Attempt, run: str | None = None) -> WorkerOutcome:
    """The worker's outcome; a run that ended without one gets its fallback delta now,
    unless an attempt of it (token ``run``) delivered one before it ended."""
    if isinstance(attempt, Crashed):
        return stand_in(hub, member.id, attempt.reason, token=run)
    return attempt


def artifact_key(hub: Hub) -> str:
    """One artifact key per hub (lowercase letters, digits and dashes, as Prefect asks),
    so that a UI keeps each hub's frames under one name, newest first."""
    return f"gnp-frame-{hub.state().hub_id[:12].lower()}"


def run_name(base: str, taken: Iterable[str]) -> str:
    """A flow run's name of its own: ``base`` (``frame-9``) if no other run has it, else
    ``frame-9-2``, ``frame-9-3``... A frame run again after a cancelled or failed run is
    told apart from it, and the frame's number stays where it was, first."""
    suffixed = re.compile(re.escape(base) + r"(?:-([0-9]+))?")
    used = {int(m.group(1) or 1) for name in taken if (m := suffixed.fullmatch(name)) is not None}
    return base if 1 not in used else f"{base}-{max(used) + 1}"


def same_hub(a: object, b: str) -> bool:
    """Whether two runs' ``hub`` parameters name one hub: a URL as written, a path by
    where it leads (one run may have been given it relative, another absolute)."""
    if not isinstance(a, str):
        return False
    if is_url(a) or is_url(b):
        return a == b
    return os.path.realpath(a) == os.path.realpath(b)


class PlainSteps:
    """The steps called directly: the workers on threads of this process, the other
    steps in the calling thread, one after another, on one opened hub (for a hub at a
    URL, each opening fetches)."""

    run_id: str | None = None

    def __init__(self) -> None:
        self._opened: dict[str, Hub] = {}

    def _hub(self, hub: str) -> Hub:
        if hub not in self._opened:
            self._opened[hub] = open_hub(hub)
        return self._opened[hub]

    @contextlib.contextmanager
    def workers(
        self, hub: str, max_workers: int, worktrees: str | None, stop: StopToken
    ) -> Iterator[Submit]:
        root = Path(worktrees) if worktrees else None

        def one(member: Member, run: str) -> WorkerOutcome:
            # A Hub per worker: a pygit2 repository is not to be shared between threads.
            return work(open_hub(hub), member, root=root, stop=stop, token=run)

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:

            def submit(member: Member, run: str) -> Pending:
                future = pool.submit(one, member, run)
                return lambda: _attempt(future)

            yield submit

    def boundary(self, hub: str) -> list[str]:
        return boundary(self._hub(hub))  # refreshes: what was pushed meanwhile

    def merge(self, hub: str, refs: list[str]) -> FrameReport:
        return run_frame(self._hub(hub), within=refs)

    def lineage(self, hub: str, frame: int, where: str | None, seconds: float) -> str:
        return record_lineage(self._hub(hub), frame, where, seconds=seconds)

    def publish(self, summary: FrameSummary, key: str) -> None:
        """Nowhere to publish: the caller has the summary."""


def _attempt(future: Future[WorkerOutcome]) -> Attempt:
    try:
        return future.result()
    except Exception as exc:  # work() reports failures; this is a last resort
        return Crashed(f"{type(exc).__name__}: {exc}")


def run_plain(
    hub: str,
    members: Sequence[Member] = (),
    *,
    max_workers: int = 8,
    lineage: str | None = None,
    worktrees: str | None = None,
) -> FrameSummary:
    """One frame without Prefect: what the library, the tests and the benchmark that
    prices Prefect run. A frame that failed is returned, not raised: its summary's
    ``failure`` says why, as the flow's Failed run does."""
    return run(
        hub,
        members,
        PlainSteps(),
        max_workers=max_workers,
        lineage=lineage,
        worktrees=worktrees,
    )
