"""Reduce one frame: base documents + the frame's deltas -> new documents + verdicts.

Theory of operation, the rules that make a frame safe to run, rerun and replay:

1. Order. Deltas are taken in composite-key order (see :mod:`gnp.order`), so the
   input order never matters: any permutation gives the same bytes.
2. At most once. A delta whose id is in the ledger, or seen earlier in this frame, is a
   ``duplicate`` and changes nothing; a rerun of a frame therefore adds nothing twice.
3. Conflicts are decided before anything applies, by priority (authority, then key),
   over footprints computed on the base documents (see :mod:`gnp.conflicts`). A loser
   changes nothing and its verdict names the winner. Never a silent choice.
4. Atomicity. Winners apply in key order, each all or nothing; one whose operation
   fails (a ``test`` that does not hold, a missing path) is ``rejected`` with the reason
   and changes nothing. If a rejected delta had beaten another in a conflict, that
   loss was for nothing: the frame is rolled back and decided again without it.
5. Fallback deltas record a failed worker and change nothing.

The result holds only the documents of files that applied deltas touched.
"""

from __future__ import annotations

import gc
from collections.abc import Container, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import pointer
from .conflicts import Clash, Footprint, Index, footprints
from .delta import Delta
from .document import ABSENT, Reader, UndoLog, Workspace
from .errors import Refused
from .order import key, priority


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
    frame: int, deltas: Iterable[Delta], base: Reader, ledger: Container[str] = ()
) -> FrameResult:
    """Apply the verified ``deltas`` of ``frame`` to the documents ``base`` reads."""
    # A frame allocates many objects that live until it ends; Python's generational
    # collector would walk them again and again, making the cost per delta grow with
    # the frame. Nothing here needs collecting before the frame returns.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _reduce(frame, deltas, base, ledger)
    finally:
        if enabled:
            gc.enable()


def _reduce(
    frame: int, deltas: Iterable[Delta], base: Reader, ledger: Container[str]
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
                _rejected(
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

    workspace = Workspace(base)
    prints = {d.id: _footprints(d, workspace) for d in candidates}
    excluded: dict[str, Verdict] = {}  # winners that failed after beating someone
    while True:
        losses = _decide(candidates, prints, excluded)
        applied: list[UndoLog] = []
        failed: dict[str, Verdict] = {}
        for delta in candidates:
            if delta.id in excluded or delta.id in losses:
                continue
            try:
                applied.append(workspace.apply(delta.ops))
            except Refused as exc:  # an op that cannot apply, or a base file unreadable
                failed[delta.id] = _rejected(delta, exc.code, str(exc))
        needless = {v.winner for v in losses.values() if v.winner} & failed.keys()
        if not needless:
            excluded.update(failed)
            break
        # Those losses were for nothing: decide again without the winners that failed.
        # Every other delta is decided afresh, so no verdict describes a discarded round.
        excluded.update({i: failed[i] for i in needless})
        for log in reversed(applied):
            workspace.undo(log)

    touched: set[str] = set()
    verdicts: list[Verdict] = []
    for slot in slots:
        if isinstance(slot, Delta):
            verdict = excluded.get(slot.id) or losses.get(slot.id)
            if verdict is None:
                verdict = Verdict(slot.id, slot.worker, Outcome.APPLIED)
                touched.update(op.file for op in slot.ops if op.op != "test")
            slot = verdict
        verdicts.append(slot)
    documents = {f: workspace.document(f) for f in sorted(touched)}
    return FrameResult(frame, documents, tuple(verdicts))


def _decide(
    candidates: list[Delta], prints: dict[str, list[Footprint]], excluded: dict[str, Verdict]
) -> dict[str, Verdict]:
    """Conflict losers among the candidates not excluded: {loser id: verdict}."""
    index = Index()
    losses: dict[str, Verdict] = {}
    for delta in sorted(candidates, key=priority):
        if delta.id in excluded:
            continue
        clash: Clash | None = None
        for fp in prints[delta.id]:
            clash = index.clash(fp, delta.worker)
            if clash is not None:
                break
        if clash is None:
            for fp in prints[delta.id]:
                index.add(fp, delta.worker, delta)
            continue
        winner: Delta = clash.winner
        where = f"{clash.file}:{pointer.format(clash.tokens) or '/'}"
        reason = f"conflicts with delta {winner.id[:12]} of {winner.worker!r} at {where}; " + (
            "it has higher authority"
            if winner.authority > delta.authority
            else "equal authority, and it came first"
        )
        losses[delta.id] = Verdict(
            delta.id, delta.worker, Outcome.CONFLICT, reason, "conflict", winner.id
        )
    return losses


def _footprints(delta: Delta, workspace: Workspace) -> list[Footprint]:
    def is_array(file: str, tokens: pointer.Tokens) -> bool | None:
        try:
            node = workspace.document(file)
        except Refused:  # unreadable: applying will reject the delta with the reason
            return None
        for token in tokens:
            if type(node) is dict:
                node = node.get(token, ABSENT)
            elif type(node) is list and _is_index(token, len(node)):
                node = node[int(token)]
            else:
                return None
            if node is ABSENT:
                return None
        return None if node is ABSENT else type(node) is list

    return [fp for op in delta.ops for fp in footprints(op, is_array)]


def _rejected(delta: Delta, code: str, reason: str) -> Verdict:
    return Verdict(delta.id, delta.worker, Outcome.REJECTED, reason, code)


def _is_index(token: str, length: int) -> bool:
    return token.isascii() and token.isdigit() and int(token) < length
