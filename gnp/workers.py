"""A roster's workers at work: plain functions that the frame flow's tasks call.

Every worker of a frame ends in exactly one outcome, and none is silent:

* ``ok``: its edits became a delta, now in the inbox;
* ``fallback``: it failed (crashed, timed out, left broken JSON, or could not even be
  started) and an empty delta recording why is in the inbox instead;
* ``unchanged``: it succeeded and changed no state file, so there is nothing to merge;
* ``failed``: not even a fallback could be signed or pushed (no key, hub unreachable);
  the reason is reported with the frame.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import inbox, keys
from .call import CALL_PATH
from .delta import fallback
from .errors import describe
from .hub import Hub
from .roster import Member
from .run import run

OUTCOMES = ("ok", "fallback", "unchanged", "failed")
SUMMARY_OUTPUT = 4096  # characters of a worker's output that its summary keeps


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    worker: str
    status: str  # one of OUTCOMES
    delta_id: str | None
    exit_code: int | None
    error: str | None
    seconds: float
    output: str = ""  # the tail of what the work printed

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["output"] = self.output[-SUMMARY_OUTPUT:]  # summaries are kept per frame
        return out


def work(hub: Hub, member: Member, *, root: Path | None = None) -> WorkerOutcome:
    """Run one roster worker in its own worktree and submit what it did."""
    started = time.perf_counter()
    try:
        result = run(
            hub,
            member.id,
            member.argv(),
            timeout=member.timeout,
            authority=member.authority,
            root=root,
            env=_env(member),
            capture=True,
        )
    except Exception as exc:  # the harness itself failed: the worker still gets a verdict
        return stand_in(hub, member.id, describe(exc), started=started)
    return WorkerOutcome(
        member.id,
        result.status,
        result.delta_id,
        result.exit_code,
        result.error or result.note,  # a note: the work is delivered, but say what went wrong
        time.perf_counter() - started,
        result.output,
    )


def stand_in(hub: Hub, worker: str, reason: str, *, started: float | None = None) -> WorkerOutcome:
    """Submit the empty fallback delta of a worker whose work could not report itself."""
    started = time.perf_counter() if started is None else started
    try:
        state = hub.state()
        delta = keys.load(state.hub_id, worker).sign(fallback(worker, reason, frame=state.frame))
        delta_id = inbox.submit(hub, delta)
    except Exception as exc:
        problem = describe(exc)
        why = reason if problem == reason else f"{reason}; and no fallback delta: {problem}"
        return WorkerOutcome(worker, "failed", None, None, why, time.perf_counter() - started)
    return WorkerOutcome(worker, "fallback", delta_id, None, reason, time.perf_counter() - started)


def _env(member: Member) -> dict[str, str]:
    """A callable can import what the frame's process can, and what is in the folder the
    frame was started from; :mod:`gnp.call` puts these after its own path, so neither
    can shadow the standard library or installed packages."""
    if member.call is None:
        return {}
    return {CALL_PATH: os.pathsep.join([*(p for p in sys.path if p), os.getcwd()])}
