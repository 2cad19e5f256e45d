"""What became of one delta in a frame (its verdict), and of one worker's run."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gnp.core.delta import Delta
from gnp.core.inert import inert


class Outcome(StrEnum):
    """A delta's verdict: exactly one per delta per frame."""

    APPLIED = "applied"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    FALLBACK = "fallback"


# The order in which summaries, commit trailers and lineage report the outcomes.
REPORTED: tuple[Outcome, ...] = (
    Outcome.APPLIED,
    Outcome.REJECTED,
    Outcome.CONFLICT,
    Outcome.FALLBACK,
    Outcome.DUPLICATE,
)


class WorkerStatus(StrEnum):
    """How a worker's run ended; every run ends in one, and none is silent."""

    OK = "ok"  # its edits became a delta, now in the inbox
    FALLBACK = "fallback"  # it failed, and an empty delta saying why is in the inbox
    UNCHANGED = "unchanged"  # it changed no state file: nothing to merge
    FAILED = "failed"  # not even a fallback could be signed or delivered


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one delta in a frame."""

    delta: str
    worker: str
    outcome: Outcome
    reason: str | None = None
    code: str | None = None
    winner: str | None = None  # for CONFLICT: the delta that won

    def __post_init__(self) -> None:
        # A reason quotes what a worker wrote (a key, a pointer, a fallback's error):
        # kept inert where it is made, so every verdict on main and in lineage is.
        if self.reason is not None and not self.reason.isprintable():
            object.__setattr__(self, "reason", inert(self.reason))

    def to_json(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "worker": self.worker,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "code": self.code,
            "winner": self.winner,
        }


def rejected(delta: Delta, code: str, reason: str) -> Verdict:
    return Verdict(delta.id, delta.worker, Outcome.REJECTED, reason, code)
