"""A roster's workers at work: each one's run, and the outcome it ends in.

Every worker of a frame ends in exactly one :class:`~gnp.core.verdict.WorkerStatus`, and
none is silent: ``ok`` (its edits became a delta, now in the inbox), ``fallback`` (it
failed: crashed, timed out, left broken JSON, or could not even be started, and an empty
delta recording why is in the inbox instead), ``unchanged`` (it succeeded and changed no
state file, so there is nothing to merge) or ``failed`` (not even a fallback could be
signed or pushed: no key, hub unreachable; the reason is reported with the frame).

Each outcome is also logged, as the worker ends, to :data:`PROGRESS`: whoever runs a
frame and wants to show progress attaches a handler there (``gnp frame`` does).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnp.core.delta import fallback
from gnp.core.errors import describe
from gnp.core.inert import inert
from gnp.core.verdict import WorkerStatus
from gnp.frame.call import CALL_PATH
from gnp.frame.roster import Member
from gnp.git import attempts, inbox
from gnp.git.hub import Hub
from gnp.host import clock, keys
from gnp.process.run import run
from gnp.process.stop import StopToken

SUMMARY_OUTPUT = 4096  # characters of a worker's output that its summary keeps

PROGRESS = logging.getLogger("gnp.worker")
PROGRESS.addHandler(logging.NullHandler())
PROGRESS.setLevel(logging.INFO)
PROGRESS.propagate = False  # shown where a handler is attached, and nowhere else


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    worker: str
    status: WorkerStatus
    delta_id: str | None
    exit_code: int | None
    error: str | None
    seconds: float
    output: str = ""  # the tail of what the work printed

    @property
    def level(self) -> int:
        """How loud its line is: a worker that did not do its work is worth a warning."""
        quiet = (WorkerStatus.OK, WorkerStatus.UNCHANGED)
        return logging.INFO if self.status in quiet else logging.WARNING

    def line(self) -> str:
        """``alice ok in 41.20 s``, and the error if there is one (inert: it is logged)."""
        note = f": {inert(self.error)}" if self.error else ""
        return f"{self.worker} {self.status} in {self.seconds:.2f} s{note}"

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "status": self.status.value,
            "delta_id": self.delta_id,
            "exit_code": self.exit_code,
            "error": self.error,
            "seconds": self.seconds,
            "output": self.output[-SUMMARY_OUTPUT:],  # summaries are kept per frame
        }


def work(
    hub: Hub,
    member: Member,
    *,
    root: Path | None = None,
    stop: StopToken | None = None,
    token: str | None = None,
    recheck: bool = False,
) -> WorkerOutcome:
    """Run one roster worker in its own worktree and submit what it did.

    ``token`` is the frame's for this worker's run (:mod:`gnp.git.attempts`), which its
    delta or fallback bears. With ``recheck`` (the run may have been attempted already:
    a cluster runs a task again when its process died), the inbox is searched first, and
    if an earlier attempt delivered the run's verdict, that is the outcome and the work
    is not run again. Without it, the search is spared (for a hub at a URL, a fetch)."""
    started = time.perf_counter()
    try:
        earlier = _earlier(hub, member.id, token, started) if recheck and token else None
        if earlier is not None:
            return earlier
        result = run(
            hub,
            member.id,
            member.argv(),
            timeout=member.timeout,
            authority=member.authority,
            root=root,
            env=_env(member),
            capture=True,
            stop=stop,
            nonce=token,
        )
    except Exception as exc:  # the harness itself failed: the worker still gets a verdict
        return stand_in(hub, member.id, describe(exc), started=started, token=token)
    return _told(
        WorkerOutcome(
            member.id,
            result.status,
            result.delta_id,
            result.exit_code,
            result.error or result.note,  # a note: the work is delivered, but say what went wrong
            time.perf_counter() - started,
            result.output,
        )
    )


def stand_in(
    hub: Hub,
    worker: str,
    reason: str,
    *,
    started: float | None = None,
    token: str | None = None,
) -> WorkerOutcome:
    """Submit the empty fallback delta of a worker whose work could not report itself;
    with the run's ``token``, only if no attempt of the run delivered a verdict (which is
    then the outcome)."""
    started = time.perf_counter() if started is None else started
    try:
        if token is not None and (earlier := _earlier(hub, worker, token, started)) is not None:
            return earlier
        state = hub.state()
        key = keys.load(state.hub_id, worker, hub.named)
        stamp = clock.stamp(token)
        delta_id = inbox.submit(
            hub, key.sign(fallback(worker, reason, frame=state.frame, stamp=stamp))
        )
    except Exception as exc:
        problem = describe(exc)
        why = reason if problem == reason else f"{reason}; and no fallback delta: {problem}"
        seconds = time.perf_counter() - started
        return _told(WorkerOutcome(worker, WorkerStatus.FAILED, None, None, why, seconds))
    seconds = time.perf_counter() - started
    return _told(WorkerOutcome(worker, WorkerStatus.FALLBACK, delta_id, None, reason, seconds))


def _earlier(hub: Hub, worker: str, token: str, started: float) -> WorkerOutcome | None:
    """The outcome an earlier attempt of this run delivered, if one did."""
    delta = attempts.delivered(hub, worker, token)
    if delta is None:
        return None
    seconds = time.perf_counter() - started
    if delta.status == "fallback":
        status, error = WorkerStatus.FALLBACK, delta.error
    else:
        status, error = WorkerStatus.OK, None
    note = "delivered by an earlier attempt of this run, whose process ended before it reported"
    return _told(WorkerOutcome(worker, status, delta.id, None, error or note, seconds))


def _told(outcome: WorkerOutcome) -> WorkerOutcome:
    PROGRESS.log(outcome.level, outcome.line())
    return outcome


def _env(member: Member) -> dict[str, str]:
    """A callable can import what the frame's process can, and what is in the member's
    folder (its roster's, or its cwd: never the folder the frame's process started in);
    :mod:`gnp.frame.call` puts these after its own path, so neither can shadow the
    standard library or installed packages."""
    if member.call is None:
        return {}
    return {CALL_PATH: os.pathsep.join([*(p for p in sys.path if p), str(member.folder())])}
