"""Rules 3 and 4 of a frame (see :mod:`gnp.core.reduce`): decide its conflicts, apply its
winners, and leave out a winner whose failure made another lose for nothing.

Theory of operation: a round decides the conflicts among the candidates not left out,
by priority, then applies the winners in key order, each all or nothing. A winner that
fails after beating someone is left out and the frame decided again, until no loss is
for nothing (:func:`_stable`).

Winners of different workers commute, save that sums can overflow: anything one could
do to another's locations is a conflict. So some deltas can be seen, from the base
documents alone, to fail wherever they win (:class:`_Doom`). Such a delta can never
apply, and leaving it out is the same as its never having come; so those are left out
first, on their own. Any other winner left out may have failed only for want of a
delta that lost to another such winner, so each is then tried again against the frame
as it stands (:func:`decide`), and gets the verdict of that try. Known limit: two deltas
of one worker that need each other, both left out for a winner that fails in some
frames only, are tried one at a time, and neither comes back.

Cost: a frame without failing winners takes one round. A delta left out is mostly
judged without a new round (:func:`_foregone`); any other costs a round or two to try,
and letting one back in starts the tries again. Doomed winners that each hide the next
(one beats another, which would beat a third...) cost a round each.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from functools import partial

from gnp.core import pointer, wording
from gnp.core.conflicts import READ, Clash, Footprint, Index, Place, footprints, locate_in
from gnp.core.delta import Delta
from gnp.core.document import ABSENT, Reader, UndoLog, Workspace
from gnp.core.errors import LostUpdate, PatchTestFailed, Refused
from gnp.core.ops import OPS, Kind, Op
from gnp.core.order import priority
from gnp.core.pointer import is_prefix
from gnp.core.verdict import Outcome, Verdict, rejected

# Additive operations whose result depends on what other workers' add there: a sum can
# overflow where the operation alone would not. Appends and unions fail on types only.
NUMERIC = frozenset(
    name for name, spec in OPS.items() if spec.kind is Kind.ADDITIVE and spec.value_type == "number"
)


@dataclass(slots=True)
class Round:
    """One decision and application of the candidates not left out."""

    losses: dict[str, Verdict]  # conflict losers
    failed: dict[str, Verdict]  # winners whose operations did not apply
    logs: list[UndoLog]  # what the winners that applied changed, in key order

    def applied(self, delta: str) -> bool:
        """Whether ``delta``, which was not left out of this round, applied in it."""
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
    losses = _conflicts(candidates, prints, out, workspace.words)
    logs: list[UndoLog] = []
    failed: dict[str, Verdict] = {}
    for delta in candidates:
        if delta.id in out or delta.id in losses:
            continue
        try:
            logs.append(workspace.apply(delta.ops))
        except Refused as exc:  # an op that cannot apply, or a base file unreadable
            failed[delta.id] = refused(delta, exc, workspace.words)
    return Round(losses, failed, logs)


def _stable(
    candidates: list[Delta],
    prints: dict[str, list[Footprint]],
    workspace: Workspace,
    out: dict[str, Verdict],
    doom: _Doom,
) -> tuple[Round, dict[str, Verdict]]:
    """Rounds until no winner that failed had beaten anyone: such a winner is left out
    and the frame decided again. Returns the last round, applied, and who is left out.

    Winners that would fail wherever they won go first, on their own: leaving out a
    delta that can never apply is the same as its never having come, whereas another
    failure may have been caused by theirs."""
    out = dict(out)
    while True:
        round_ = _round(candidates, prints, workspace, out)
        needless = {v.winner for v in round_.losses.values() if v.winner} & round_.failed.keys()
        if not needless:
            return round_, out
        doomed = {i for i in needless if doom.doomed(i)}
        out.update({i: round_.failed[i] for i in doomed or needless})
        round_.undo(workspace)


def decide(
    candidates: list[Delta], workspace: Workspace, base: Reader
) -> tuple[Round, dict[str, Verdict]]:
    """The frame's last round, applied to ``workspace`` (which reads ``base``), and the
    winners left out of it with their verdicts. ``candidates`` are in key order.

    A winner left out may have failed only because another winner that failed had
    beaten a delta it needed. So each is tried again, in priority order, against the
    frame as it now stands: one that applies is let back in (each at most once, so this
    ends). One that stays out gets what became of it in that try, not a reason from a
    round that was discarded. Most need no try (:func:`_foregone`).
    """
    known: dict[_At, tuple[Footprint, ...]] = {}
    prints = {d.id: _footprints(d, workspace, known) for d in candidates}
    doom = _Doom(candidates, prints, Workspace(base, workspace.limits, workspace.words))
    final, out = _stable(candidates, prints, workspace, {}, doom)
    readmitted: set[str] = set()
    while out:
        untold = _known_verdicts(candidates, prints, out, final, doom, workspace.words)
        if not untold:
            break
        final.undo(workspace)
        for delta_id in untold:
            others = {i: v for i, v in out.items() if i != delta_id}
            trial, left = _stable(candidates, prints, workspace, others, doom)
            if delta_id not in left and trial.applied(delta_id) and delta_id not in readmitted:
                readmitted.add(delta_id)
                final, out = trial, left
                break
            # A delta let back in once already (so that this ends) and left out again
            # keeps the verdict it was left out with, even if it would now apply.
            out[delta_id] = (
                left.get(delta_id)
                or trial.failed.get(delta_id)
                or trial.losses.get(delta_id, out[delta_id])
            )
            trial.undo(workspace)
        else:
            # The same ids are left out as in `final`, so this round is `final` again.
            return _round(candidates, prints, workspace, out), out
    return final, out


def _known_verdicts(
    candidates: list[Delta],
    prints: dict[str, list[Footprint]],
    out: dict[str, Verdict],
    final: Round,
    doom: _Doom,
    words: int,
) -> list[str]:
    """Give each delta left out of ``final`` the verdict a try would, where that is known
    without one; return the others, in priority order."""
    untold: list[str] = []

    def judge(delta: Delta, index: Index) -> None:
        known = _foregone(delta, prints, index, final, doom, words)
        if known is None:
            untold.append(delta.id)
        else:
            out[delta.id] = known

    _conflicts(candidates, prints, out, words, judge)  # the decision of `final` once more
    return untold


def _foregone(
    delta: Delta,
    prints: dict[str, list[Footprint]],
    index: Index,
    final: Round,
    doom: _Doom,
    words: int,
) -> Verdict | None:
    """What a try would make of ``delta``, when that is known without one. ``index``
    holds the winners of ``final`` that outrank it, as the try's decision would."""
    clash = _first_clash(index, prints[delta.id], delta.worker)
    if clash is not None:  # it would lose, unless the winner fails and is left out
        return None if clash.winner.id in final.failed else _lost(delta, clash, words)
    return doom.verdict(delta.id)


class _Doom:
    """Which deltas would fail wherever they won, and with what reason.

    Winners of different workers commute: whatever one could do to a location that
    another reads or writes, creating a file or object beneath it included, is a
    conflict (:mod:`gnp.core.conflicts`). So where a delta wins, what its operations find in a
    file is the base document, changed only by earlier deltas of its own worker, and by
    other workers' additive operations on the very locations of its own additive ones
    (which commute, but a sum can overflow). Hence a delta is doomed, failing wherever it
    wins, if its operations on some file that no earlier delta of its worker changes (at,
    above or below its locations) fail on the base document at a non-numeric one. Its
    reason is then the one it fails with on the base documents, provided no earlier
    delta of its worker changes any of its files so and no numeric operation comes
    before the one that fails, which could overflow first.
    """

    def __init__(
        self, candidates: list[Delta], prints: dict[str, list[Footprint]], alone: Workspace
    ) -> None:
        # Read on first use: a frame in which no loss is for nothing never asks.
        self._alone = alone
        self._candidates = candidates
        self._prints = prints
        self._deltas: dict[str, Delta] = {}
        # Per worker, what its deltas change, in key order; per delta, how many of its
        # worker's deltas came before it.
        self._changes: dict[str, list[list[Footprint]]] = {}
        self._place: dict[str, int] = {}
        self._known: dict[str, tuple[Verdict | None, bool]] = {}

    def _index(self) -> None:
        for delta in self._candidates:
            self._deltas[delta.id] = delta
            mine = self._changes.setdefault(delta.worker, [])
            self._place[delta.id] = len(mine)
            mine.append([fp for fp in self._prints[delta.id] if fp.access != READ])

    def doomed(self, delta_id: str) -> bool:
        return self._judged(delta_id)[0] is not None

    def verdict(self, delta_id: str) -> Verdict | None:
        """The verdict of a doomed delta, when its reason is certain; None otherwise."""
        verdict, certain = self._judged(delta_id)
        return verdict if certain else None

    def _judged(self, delta_id: str) -> tuple[Verdict | None, bool]:
        if delta_id not in self._known:
            if not self._deltas:
                self._index()
            self._known[delta_id] = self._judge(self._deltas[delta_id])
        return self._known[delta_id]

    def _judge(self, delta: Delta) -> tuple[Verdict | None, bool]:
        failure = self._fails_alone(delta.ops)
        if failure is None:
            return None, False  # it applies on the base documents
        index, exc = failure
        verdict = refused(delta, exc, self._alone.words)
        touched = self._touched_by_own(delta)
        if not touched and all(op.op not in NUMERIC for op in delta.ops[: index + 1]):
            return verdict, True
        # Doomed all the same if its operations on one file that no earlier delta of its
        # worker changes fail there at a non-numeric one: wherever it wins, that file is
        # as in the base, save for sums, which could only make it fail sooner.
        for file in sorted({op.file for op in delta.ops} - touched):
            ops = [op for op in delta.ops if op.file == file]
            there = self._fails_alone(ops)
            if there is not None and ops[there[0]].op not in NUMERIC:
                return verdict, False
        return None, False

    def _fails_alone(self, ops: Sequence[Op]) -> tuple[int, Refused] | None:
        """Where ``ops`` first fail on the base documents (index and error), if they do."""
        logs: list[UndoLog] = []
        try:
            for index, op in enumerate(ops):
                try:
                    logs.append(self._alone.apply((op,)))
                except Refused as exc:
                    return index, exc
            return None
        finally:
            for log in reversed(logs):
                self._alone.undo(log)

    def _touched_by_own(self, delta: Delta) -> set[str]:
        """The files where an earlier delta of its worker changes what it touches, or
        above or below it."""
        earlier = self._changes[delta.worker][: self._place[delta.id]]
        return {
            mine.file
            for mine in self._prints[delta.id]
            for theirs in (fp for changes in earlier for fp in changes)
            if mine.file == theirs.file
            and (is_prefix(mine.tokens, theirs.tokens) or is_prefix(theirs.tokens, mine.tokens))
        }


def refused(delta: Delta, exc: Refused, words: int) -> Verdict:
    """The verdict of a winner whose operations did not apply, its reason in ``words``
    (a wording). A failed ``test`` that guards a ``replace`` or ``remove`` of the same
    value (as the harness writes every change to an existing value) is a lost update
    refused, and says so."""
    op = exc.op if isinstance(exc, PatchTestFailed) else None
    if isinstance(op, Op):
        at = next((i for i, mine in enumerate(delta.ops) if mine is op), None)
        then = delta.ops[at + 1] if at is not None and at + 1 < len(delta.ops) else None
        if (
            then
            and then.op in ("replace", "remove")
            and (then.file, then.path) == (op.file, op.path)
        ):
            where = wording.place(op.file, op.path, words)
            lost = LostUpdate(
                f"lost update refused: {where} changed after frame {delta.frame}, this "
                f"delta's base, and it would have written over that change "
                f"({str(exc).split(' failed: ', 1)[-1]}); redo the work on main as it is now",
                op,
            )
            return rejected(delta, lost.code, str(lost))
    if isinstance(exc.op, Op):  # the reason opens with the op at its place: word that
        failed = exc.op
        reason = wording.reword(str(exc), failed.op, failed.file, failed.path, words)
        return rejected(delta, exc.code, reason)
    return rejected(delta, exc.code, str(exc))


def _conflicts(
    candidates: list[Delta],
    prints: dict[str, list[Footprint]],
    out: Container[str],
    words: int,
    judge: Callable[[Delta, Index], None] | None = None,
) -> dict[str, Verdict]:
    """Conflict losers among the candidates not left out: {loser id: verdict}. ``judge``
    is shown each delta left out, with the winners that outrank it."""
    index = Index()
    losses: dict[str, Verdict] = {}
    for delta in sorted(candidates, key=priority):
        if delta.id in out:
            if judge is not None:
                judge(delta, index)
            continue
        clash = _first_clash(index, prints[delta.id], delta.worker)
        if clash is None:
            for fp in prints[delta.id]:
                index.add(fp, delta.worker, delta)
            continue
        losses[delta.id] = _lost(delta, clash, words)
    return losses


def _first_clash(index: Index, prints: list[Footprint], worker: str) -> Clash | None:
    """The first of a delta's footprints, in order, to clash with an accepted winner."""
    for fp in prints:
        clash = index.clash(fp, worker)
        if clash is not None:
            return clash
    return None


def _lost(delta: Delta, clash: Clash, words: int) -> Verdict:
    winner: Delta = clash.winner
    where = wording.place(clash.file, pointer.format(clash.tokens), words)
    reason = f"conflicts with delta {winner.id[:12]} of {winner.worker!r} at {where}; " + (
        "it has higher authority"
        if winner.authority > delta.authority
        else "equal authority, and it came first"
    )
    return Verdict(delta.id, delta.worker, Outcome.CONFLICT, reason, "conflict", winner.id)


_At = tuple[str, str, str, str | None]  # what an operation's footprints depend on


def _footprints(
    delta: Delta, workspace: Workspace, known: dict[_At, tuple[Footprint, ...]] | None = None
) -> list[Footprint]:
    """The footprints of ``delta``'s operations on the base documents ``workspace`` reads.
    They depend on the operation and those documents only, which do not change while a
    frame's footprints are taken; its deltas touch the same few places again and again,
    so ``known`` keeps them by operation for the frame."""
    if known is None:
        known = {}
    prints: list[Footprint] = []
    for op in delta.ops:
        at = (op.op, op.file, op.path, op.from_)
        found = known.get(at)
        if found is None:
            found = known[at] = tuple(footprints(op, partial(_locate, workspace)))
        prints.extend(found)
    return prints


def _locate(workspace: Workspace, file: str, tokens: pointer.Tokens) -> Place:
    try:
        document = workspace.document(file)
    except Refused:  # unreadable: applying will reject the delta with the reason
        document = ABSENT
    return locate_in(document, tokens)
