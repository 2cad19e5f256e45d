"""What became of one delta in a frame: its verdict."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .delta import Delta


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    FALLBACK = "fallback"


# The order in which summaries, commit trailers and lineage report the outcomes.
REPORTED = ("applied", "rejected", "conflict", "fallback", "duplicate")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one delta in a frame."""

    delta: str
    worker: str
    outcome: Outcome
    reason: str | None = None
    code: str | None = None
    winner: str | None = None  # for CONFLICT: the delta that won

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
