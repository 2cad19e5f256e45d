"""Rules 3 and 4 of a frame (see :mod:`gnp.reduce`): decide its conflicts, apply its
winners, and leave out a winner whose failure made another lose for nothing.

Theory of operation: a round decides the conflicts among the candidates not left out,
by priority, then applies the winners in key order, each all or nothing. A winner that
fails after beating someone is left out and the frame decided again, until no loss is
for nothing (:func:`_stable`). A winner left out may have failed only for want of a
delta that lost to another such winner, so each is then tried again against the frame
as it stands (:func:`decide`). Hence a delta that always fails changes nothing for
anyone else, and no verdict describes a round that was discarded.

Most need no new round to be tried again. Winners of different workers commute:
anything one could do to another's locations, creating a file or object it writes
beneath included, is a conflict. So a delta with no earlier delta of its own worker on
its files, that fails on the base documents, fails whenever it wins; and one that an
applied winner outranks loses to it. A frame without such failures takes one round.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from . import pointer
from .conflicts import Clash, Footprint, Index, footprints
from .delta import Delta
from .document import ABSENT, Reader, UndoLog, Workspace
from .errors import Refused
from .order import priority
from .verdict import Outcome, Verdict, rejected


@dataclass(slots=True)
class Round:
    """One decision and application of the candidates not left out."""

    losses: dict[str, Verdict]  # conflict losers
    failed: dict[str, Verdict]  # winners whose operations did not apply
    logs: list[UndoLog]  # what the winners that applied changed, in key order

    def applied(self, delta: str) -> bool:
        return delta not in self.losses and delta not in self.failed

    def undo(self, workspace: Workspace) -> None:
        for log in reversed(self.logs):
            workspace.undo(log)


def _round(
    candidates: list[Delta],
    prints: dict[str, list[Footprint]],
    workspace: Workspace,
    out: Container[str],
) -> Round:
    losses = _conflicts(candidates, prints, out)
    logs: list[UndoLog] = []
    failed: dict[str, Verdict] = {}
    for delta in candidates:
        if delta.id in out or delta.id in losses:
            continue
        try:
            logs.append(workspace.apply(delta.ops))
        except Refused as exc:  # an op that cannot apply, or a base file unreadable
            failed[delta.id] = rejected(delta, exc.code, str(exc))
    return Round(losses, failed, logs)


def _stable(
    candidates: list[Delta],
    prints: dict[str, list[Footprint]],
    workspace: Workspace,
    out: dict[str, Verdict],
) -> tuple[Round, dict[str, Verdict]]:
    """Rounds until no winner that failed had beaten anyone: such a winner is left out
    and the frame decided again. Returns the last round, applied, and who is left out."""
    out = dict(out)
    while True:
        round_ = _round(candidates, prints, workspace, out)
        needless = {v.winner for v in round_.losses.values() if v.winner} & round_.failed.keys()
        if not needless:
            return round_, out
        out.update({i: round_.failed[i] for i in needless})
        round_.undo(workspace)


def decide(
    candidates: list[Delta], workspace: Workspace, base: Reader
) -> tuple[Round, dict[str, Verdict]]:
    """The frame's last round, applied to ``workspace`` (which reads ``base``), and the
    winners left out of it with their verdicts. ``candidates`` are in key order.

    A winner left out may have failed only because another winner that failed had
    beaten a delta it needed (an earlier delta of its own worker, say). So each is tried
    again, in priority order, against the frame as it now stands: one that applies is
    let back in (each at most once, so this ends). One that stays out gets what became
    of it in that try, never a reason from a round that was discarded.

    Most never need the try: a delta whose operations fail on the base documents, with
    no earlier delta of its own worker on its files, fails whenever it wins, since every
    other winner commutes with it; and one that a winner which applied outranks loses.
    """
    prints = {d.id: _footprints(d, workspace) for d in candidates}
    final, out = _stable(candidates, prints, workspace, {})
    if not out:
        return final, out
    alone = Workspace(base)
    own = _after_own(candidates)
    readmitted: set[str] = set()
    while True:
        held = True  # the workspace holds `final`
        index = Index()  # the winners of `final`, up to the priority of the delta tried
        for delta in sorted(candidates, key=priority):
            if delta.id not in out:
                if delta.id not in final.losses:
                    for fp in prints[delta.id]:
                        index.add(fp, delta.worker, delta)
                continue
            known = None if delta.id in own else _foregone(delta, prints, index, final, alone)
            if known is not None:
                out[delta.id] = known
                continue
            if held:
                final.undo(workspace)
                held = False
            trial, left = _stable(
                candidates, prints, workspace, {i: v for i, v in out.items() if i != delta.id}
            )
            if delta.id not in left and trial.applied(delta.id) and delta.id not in readmitted:
                readmitted.add(delta.id)
                final, out = trial, left
                break
            out[delta.id] = (
                left.get(delta.id)
                or trial.failed.get(delta.id)
                or trial.losses.get(delta.id, out[delta.id])
            )
            trial.undo(workspace)
        else:
            if not held:
                final = _round(candidates, prints, workspace, out)
            return final, out


def _foregone(
    delta: Delta,
    prints: dict[str, list[Footprint]],
    index: Index,
    final: Round,
    alone: Workspace,
) -> Verdict | None:
    """What a try would make of ``delta``, when that is known without one."""
    for fp in prints[delta.id]:
        clash = index.clash(fp, delta.worker)
        if clash is not None:  # it would lose, unless the winner fails and is left out
            return None if clash.winner.id in final.failed else _lost(delta, clash)
    try:
        log = alone.apply(delta.ops)
    except Refused as exc:
        return rejected(delta, exc.code, str(exc))
    alone.undo(log)
    return None  # it applies on the base documents: only a try can tell


def _after_own(candidates: list[Delta]) -> set[str]:
    """Candidates that follow an earlier candidate of their own worker on a common file:
    the one channel by which a delta that does not conflict with another affects it."""
    files: dict[str, set[str]] = {}
    after: set[str] = set()
    for delta in candidates:  # in key order
        mine = files.setdefault(delta.worker, set())
        touched = {op.file for op in delta.ops}
        if touched & mine:
            after.add(delta.id)
        mine |= touched
    return after


def _conflicts(
    candidates: list[Delta], prints: dict[str, list[Footprint]], out: Container[str]
) -> dict[str, Verdict]:
    """Conflict losers among the candidates not left out: {loser id: verdict}."""
    index = Index()
    losses: dict[str, Verdict] = {}
    for delta in sorted(candidates, key=priority):
        if delta.id in out:
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
        losses[delta.id] = _lost(delta, clash)
    return losses


def _lost(delta: Delta, clash: Clash) -> Verdict:
    winner: Delta = clash.winner
    where = f"{clash.file}:{pointer.format(clash.tokens) or '/'}"
    reason = f"conflicts with delta {winner.id[:12]} of {winner.worker!r} at {where}; " + (
        "it has higher authority"
        if winner.authority > delta.authority
        else "equal authority, and it came first"
    )
    return Verdict(delta.id, delta.worker, Outcome.CONFLICT, reason, "conflict", winner.id)


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


def _is_index(token: str, length: int) -> bool:
    return token.isascii() and token.isdigit() and int(token) < length
