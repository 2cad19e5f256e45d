"""Reduce one frame: base documents + the frame's deltas -> new documents + verdicts.

Theory of operation, the rules that make a frame safe to run, rerun and replay:

1. Order. Deltas are taken in composite-key order (see :mod:`gnp.core.order`), so the
   input order never matters: any permutation gives the same bytes.
2. At most once. A delta whose id is in the ledger, or seen earlier in this frame, is a
   ``duplicate`` and changes nothing; a rerun of a frame therefore adds nothing twice.
3. Conflicts are decided before anything applies, by priority (authority, then key),
   over footprints computed on the base documents (see :mod:`gnp.core.conflicts`). A loser
   changes nothing and its verdict names the winner. Never a silent choice.
4. Atomicity. Winners apply in key order, each all or nothing; one whose operation
   fails (a ``test`` that does not hold, a missing path) is ``rejected`` with the reason
   and changes nothing. If a rejected delta had beaten another in a conflict, that
   loss was for nothing: the frame is rolled back and decided again without it, first
   without the winners seen to fail wherever they win, as if they never came; one
   that failed for want of another is tried again once the frame settles (see
   :mod:`gnp.core.rounds`).
5. Fallback deltas record a failed worker and change nothing.

The result holds only the documents of files that applied deltas touched.
"""

from __future__ import annotations

import gc
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Any

from gnp.core import wording
from gnp.core.delta import Delta
from gnp.core.document import Reader, Workspace
from gnp.core.limits import DEFAULT_LIMITS, Limits
from gnp.core.order import key
from gnp.core.rounds import decide
from gnp.core.verdict import Outcome, Verdict, rejected


@dataclass(frozen=True, slots=True)
class FrameResult:
    """The outcome of one frame."""

    frame: int
    documents: dict[str, Any]  # file -> new document, or ABSENT if deleted
    verdicts: tuple[Verdict, ...]  # in composite-key order

    def count(self, outcome: Outcome) -> int:
        return sum(1 for v in self.verdicts if v.outcome is outcome)

    @property
    def settled(self) -> list[str]:
        """Ids to add to the ledger: every delta this frame decided (duplicates were)."""
        return [v.delta for v in self.verdicts if v.outcome is not Outcome.DUPLICATE]


def reduce(
    frame: int,
    deltas: Iterable[Delta],
    base: Reader,
    ledger: Container[str] = (),
    limits: Limits = DEFAULT_LIMITS,
    words: int = wording.CURRENT,
) -> FrameResult:
    """Apply the verified ``deltas`` of ``frame`` to the documents ``base`` reads, giving
    reasons in ``words`` (a wording: :mod:`gnp.core.wording`)."""
    # A frame allocates many objects that live until it ends; Python's generational
    # collector would walk them again and again, making the cost per delta grow with
    # the frame. Nothing here needs collecting before the frame returns.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _reduce(frame, deltas, base, ledger, limits, words)
    finally:
        if enabled:
            gc.enable()


def _reduce(
    frame: int,
    deltas: Iterable[Delta],
    base: Reader,
    ledger: Container[str],
    limits: Limits,
    words: int,
) -> FrameResult:
    slots: list[Verdict | Delta] = []  # in key order: a verdict, or a candidate's place
    candidates: list[Delta] = []
    seen: set[str] = set()
    for delta in sorted(deltas, key=key):
        if delta.id in ledger or delta.id in seen:
            why = "already applied" if delta.id in ledger else "already in this frame"
            slots.append(Verdict(delta.id, delta.worker, Outcome.DUPLICATE, why))
            continue
        seen.add(delta.id)
        if delta.frame >= frame:
            slots.append(
                rejected(
                    delta,
                    "stale-base",
                    f"based on frame {delta.frame}, which is not merged "
                    f"before frame {frame}; base deltas on the hub's main",
                )
            )
        elif delta.status == "fallback":
            slots.append(Verdict(delta.id, delta.worker, Outcome.FALLBACK, delta.error))
        else:
            candidates.append(delta)
            slots.append(delta)

    workspace = Workspace(base, limits, words)
    final, out = decide(candidates, workspace, base)

    touched: set[str] = set()
    verdicts: list[Verdict] = []
    for slot in slots:
        if isinstance(slot, Delta):
            verdict = out.get(slot.id) or final.failed.get(slot.id) or final.losses.get(slot.id)
            if verdict is None:
                verdict = Verdict(slot.id, slot.worker, Outcome.APPLIED)
                touched.update(op.file for op in slot.ops if op.op != "test")
            slot = verdict
        verdicts.append(slot)
    documents = {f: workspace.document(f) for f in sorted(touched)}
    return FrameResult(frame, documents, tuple(verdicts))
