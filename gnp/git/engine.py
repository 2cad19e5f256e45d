"""The merge engine: the only writer of ``main``.

Theory of operation, one frame:

1. Read ``main`` (the base) and snapshot the inbox refs: the frame boundary. A ref
   pushed after the snapshot waits for the next frame; none is lost. A base that gnp
   did not make (:func:`gnp.git.history.check_tip`) is refused: a frame on it would
   carry forward what something else wrote, and its ledger could sweep deltas away.
2. Sweep refs whose delta the ledger already holds: what a crashed engine consumed but
   did not yet remove. They are removed and never make a frame of their own, so a rerun
   after a crash ends exactly where a crash-free run would.
3. Take each remaining ref's delta file (refusing unsound pushes), then settle the frame
   (:mod:`gnp.core.settle`: admit, hold to the base's grants and the engine's clock,
   reduce, verdicts) on the base. The clock is read once per settling, and recorded in
   the frame commit's ``Gnp-Clock`` trailer for replay.
4. Write blobs only for what changed, build the tree in the object database, make one
   commit with trailers, and advance ``main`` by compare-and-swap from the base. If
   ``main`` moved (another engine, an owner's commit), recompute on the new ``main``:
   deltas are intents, so settling them again is safe, and the ledger prevents doubles.
5. Only then remove the consumed inbox refs, each only if it still points where the
   snapshot saw it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pygit2

from gnp.core import canonical, wording
from gnp.core.admit import Terms
from gnp.core.archive import VerdictRecord, counts
from gnp.core.errors import GnpError, Refused
from gnp.core.layout import frame_dir, parse_ref
from gnp.core.settle import Arrival, Settlement, settle
from gnp.core.verdict import Outcome
from gnp.git import trees
from gnp.git.history import check_tip
from gnp.git.hub import Hub, State, engine_signature
from gnp.git.inbox import Item, remove, snapshot, take
from gnp.host import clock

CLOCK_TRAILER = "Gnp-Clock"  # the engine's clock reading a frame held its deltas to
WORDING_TRAILER = "Gnp-Wording"  # the wording of its reasons (gnp.core.wording)


@dataclass(frozen=True, slots=True)
class FrameReport:
    """What one run of the engine did."""

    frame: int | None  # None: the inbox held nothing new, and main did not move
    base: str
    commit: str | None
    verdicts: tuple[VerdictRecord, ...] = ()
    swept: tuple[str, ...] = ()  # refs of deltas already merged, removed
    attempts: int = 1

    def count(self, outcome: Outcome) -> int:
        return counts(self.verdicts)[outcome]


class _Ledger:
    """The base commit's ledger, looked up per id (it may hold millions)."""

    def __init__(self, state: State) -> None:
        self._state = state

    def __contains__(self, delta_id: object) -> bool:
        return isinstance(delta_id, str) and self._state.settled(delta_id)


def settle_on(
    state: State,
    frame: int,
    arrivals: list[Arrival],
    reading: str | None,
    words: int = wording.CURRENT,
) -> Settlement:
    """Settle ``arrivals`` as frame ``frame`` on the main commit ``state`` describes,
    holding them to its grants and the clock ``reading`` (None: to no terms, as a frame
    merged before grants was), its reasons in ``words`` (a wording)."""
    terms = None if reading is None else Terms(state.grants, reading)
    keyring, ledger = state.keyring(), _Ledger(state)
    return settle(frame, arrivals, state.document, keyring, state.limits, ledger, terms, words)


def arrivals(hub: Hub, items: list[Item], max_bytes: int) -> list[Arrival]:
    out = []
    for item in items:
        try:
            out.append(Arrival(item.ref, take(hub, item, max_bytes), commit=str(item.target)))
        except Refused as exc:
            out.append(Arrival(item.ref, None, (exc.code, str(exc)), str(item.target)))
        except Exception as exc:  # whatever one push does, it must not stop the frame
            refusal = ("unreadable", f"{type(exc).__name__}: {exc}")
            out.append(Arrival(item.ref, None, refusal, str(item.target)))
    return out


_LISTED = 20  # files named in a frame's message; the rest are counted


def commit_message(settlement: Settlement, base: pygit2.Oid) -> str:
    """The frame's commit message: a subject with its tally, who contributed and what
    changed (for people reading ``git log``), then the trailers that ``gnp verify`` and
    replay read, and a ``Co-authored-by`` per worker whose delta applied, so that a
    host such as GitHub shows who contributed to the frame. Worker ids and state-file
    names are of a strict alphabet: nothing here can forge a line or a trailer."""
    tally = counts(settlement.verdicts)
    trailers = "\n".join(f"Gnp-{name.capitalize()}: {n}" for name, n in tally.items())
    if settlement.terms is not None:  # what replay holds the frame's deltas to
        trailers += f"\n{CLOCK_TRAILER}: {settlement.terms.clock}"
    if settlement.words != wording.FIRST:  # how replay words the frame's reasons
        trailers += f"\n{WORDING_TRAILER}: {settlement.words}"
    applied = sorted(
        {v.worker for v in settlement.verdicts if v.outcome is Outcome.APPLIED and v.worker}
    )
    files = sorted(settlement.result.documents)
    body = ""
    if applied:
        body += f"Applied deltas of: {', '.join(applied)}\n"
    if files:
        more = f" and {len(files) - _LISTED} more" if len(files) > _LISTED else ""
        body += f"Changed: {', '.join(files[:_LISTED])}{more}\n"
    coauthors = "".join(f"Co-authored-by: {w} <{w}@gnp.invalid>\n" for w in applied)
    return (
        f"gnp frame {settlement.frame}: {settlement.summary()}\n\n"
        + (f"{body}\n" if body else "")
        + f"Gnp-Frame: {settlement.frame}\nGnp-Base: {base}\n"
        f"Gnp-Deltas: {len(settlement.verdicts)}\n{trailers}\n{coauthors}"
    )


def build_commit(hub: Hub, base: pygit2.Commit, settlement: Settlement) -> pygit2.Oid:
    tree = trees.edit(hub.repo, base.tree, settlement.changes())
    sig = engine_signature()
    return hub.repo.create_commit(
        None, sig, sig, commit_message(settlement, base.id), tree, [base.id]
    )


def _consumed_by_last_frame(state: State) -> set[tuple[str, str]]:
    """(ref, commit) of every push the last frame gave a verdict, refused ones included.

    Only those two fields are read, and only where they are strings (the earliest frames
    did not record the commit): an archive that holds more, or what this version does
    not know (an outcome of a later one, an owner's edit), must not stop every frame
    after it. Only an archive that is not JSON at all does, and says where it is.
    """
    if state.frame < 1:
        return set()
    path = f"{frame_dir(state.frame)}/verdicts.json"
    data = trees.read(state.tree, path)
    if data is None:
        return set()
    try:
        archived = canonical.decode(data)
    except Refused as exc:
        raise GnpError(f"{path} on main is not JSON ({exc}); restore it from git") from None
    consumed = set()
    for v in archived if isinstance(archived, list) else ():
        source = v.get("source") if isinstance(v, dict) else None
        if isinstance(source, str):
            commit = v.get("commit")
            consumed.add((source, commit if isinstance(commit, str) else ""))
    return consumed


def boundary(hub: Hub) -> list[str]:
    """The inbox refs present now: a frame boundary that :func:`run_frame` can be held to."""
    hub.refresh()  # a hub at a URL: what was pushed to it, not what the mirror last saw
    return [item.ref for item in snapshot(hub)]


def run_frame(
    hub: Hub, *, within: Collection[str] | None = None, max_attempts: int = 20
) -> FrameReport:
    """Merge what the inbox holds into one new commit on main; see the module docstring.

    ``within`` (refs from :func:`boundary`) holds the frame to a boundary taken earlier:
    refs pushed since then wait for the next frame.
    """
    limit = None if within is None else frozenset(within)
    swept: list[str] = []
    for attempt in range(1, max_attempts + 1):
        hub.refresh()
        state = hub.state()
        check_tip(hub, state.commit)  # never build on (or sweep by) what gnp did not make
        consumed = _consumed_by_last_frame(state)
        items = []
        for item in snapshot(hub):
            if limit is not None and item.ref not in limit:
                continue
            named = parse_ref(item.ref)
            settled = named is not None and state.settled(named[1])
            if settled or (item.ref, str(item.target)) in consumed:
                if remove(hub, item):
                    swept.append(item.ref)
            else:
                items.append(item)
        if not items:
            return FrameReport(
                None, str(state.commit.id), None, swept=tuple(swept), attempts=attempt
            )
        frame = state.frame + 1
        taken = arrivals(hub, items, state.limits.max_bytes)
        settlement = settle_on(state, frame, taken, clock.now())
        commit = build_commit(hub, state.commit, settlement)
        if not hub.advance_main(state.commit.id, commit, f"gnp frame {frame}"):
            continue  # main moved under us: settle again on the new main
        for item in items:
            remove(hub, item)
        return FrameReport(
            frame, str(state.commit.id), str(commit), settlement.verdicts, tuple(swept), attempt
        )
    lock = hub.path / "refs" / "heads" / "main.lock"
    if lock.exists():
        raise GnpError(
            f"main is locked by {lock}: another engine is writing it, or one was "
            "killed mid-write; if none is running, remove the file"
        )
    raise GnpError(
        f"main kept moving during {max_attempts} attempts to merge a frame; "
        "is another engine running without pause?"
    )
