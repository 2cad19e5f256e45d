"""Settle one frame: what arrived in the inbox -> verdicts and the changes to ``main``.

Theory of operation: the engine and replay both call :func:`settle` and
:meth:`Settlement.changes`, and nothing else decides what a frame does, so a replay of
frame N from its parent and its archive is the same computation as the frame itself.
Everything here is pure: the git layer passes in what it read (arrivals, the base
documents, the keyring, the limits, the ledger, the grants) and the engine's clock
reading, and writes out what it gets back.

A delta that is admitted (a registered worker signed it) but breaks its :class:`Terms`
(more authority or other files than its grant, a ``utc`` outside the window around the
clock) is rejected before it is reduced, with the reason, and archived like any other
rejected delta: so a replay decides it again, from the parent commit's grants and the
clock reading the frame recorded (its commit's ``Gnp-Clock`` trailer, outside the tree:
two engines that settle a frame alike write the same tree, whenever each read its
clock). A frame merged before grants recorded no reading, and its replay holds its
deltas to no terms (``terms=None``), as the frame did.

The changes of a frame are: the state files the applied deltas touched, one ledger
entry per settled delta, the archive of the frame (the delta file of every admitted
delta, and every verdict, refused pushes included, with the size and hash of what was
refused) and the new frame number. A delta whose processing raises anything at all is
rejected alone and the frame goes on (:func:`_reduce`): whatever arrives, every arrival
ends this frame with a verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Sequence
from dataclasses import dataclass

from gnp.core import canonical, wording
from gnp.core.admit import Terms, admit, within
from gnp.core.archive import VerdictRecord, counts
from gnp.core.delta import Delta
from gnp.core.document import ABSENT, Reader
from gnp.core.errors import Malformed, Refused
from gnp.core.layout import FRAME_FILE, frame_dir, ledger_path, parse_ref
from gnp.core.limits import Limits
from gnp.core.order import key
from gnp.core.reduce import FrameResult, reduce
from gnp.core.signing import Keyring
from gnp.core.verdict import Outcome, Verdict, rejected


@dataclass(frozen=True, slots=True)
class Arrival:
    """One inbox ref at the boundary: its delta file, or why the push itself was refused."""

    source: str
    data: bytes | None
    refusal: tuple[str, str] | None = None  # (code, reason)
    commit: str = ""  # the pushed commit: lets a rerun recognise what a frame consumed
    # Replay only: the archive holds these bytes (frames merged before refused bytes were
    # left out of it kept them all), and a refusal's size and hash as recorded.
    archived: bool = False
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    frame: int
    result: FrameResult
    verdicts: tuple[VerdictRecord, ...]  # every arrival's verdict, as archived
    arrivals: Sequence[Arrival]
    admitted: frozenset[str]  # the sources whose delta was admitted
    terms: Terms | None = None  # what the deltas were held to; None: a frame before grants
    words: int = wording.CURRENT  # the wording of its reasons (gnp.core.wording)

    def count(self, outcome: Outcome) -> int:
        return counts(self.verdicts)[outcome]

    def changes(self) -> dict[str, bytes | None]:
        """Path -> new content (None: remove) for the frame's commit."""
        out: dict[str, bytes | None] = {}
        for file, doc in self.result.documents.items():
            out[file] = None if doc is ABSENT else canonical.encode_pretty(doc)
        stamp = f"{self.frame}\n".encode()
        for delta_id in self.result.settled:
            out[ledger_path(delta_id)] = stamp
        archive = frame_dir(self.frame)
        for arrival in self.arrivals:
            named = parse_ref(arrival.source)
            kept = arrival.source in self.admitted or arrival.archived
            if arrival.data is not None and named is not None and kept:
                out[f"{archive}/deltas/{named[0]}/{named[1]}.json"] = arrival.data
        out[f"{archive}/verdicts.json"] = canonical.encode_pretty(
            [v.to_json() for v in self.verdicts]
        )
        out[FRAME_FILE] = canonical.encode_pretty({"frame": self.frame})
        return out

    def summary(self) -> str:
        parts = [f"{n} {o}" for o, n in counts(self.verdicts).items() if n]
        return ", ".join(parts) or "nothing"


def settle(
    frame: int,
    arrivals: Sequence[Arrival],
    base: Reader,
    keyring: Keyring,
    limits: Limits,
    ledger: Container[str],
    terms: Terms | None,
    words: int = wording.CURRENT,
) -> Settlement:
    """Admit every arrival, hold the admitted deltas to ``terms`` (None: to none, as a
    frame merged before grants), reduce those that keep them, and give every arrival a
    verdict, its reason in ``words`` (a wording: :mod:`gnp.core.wording`)."""
    refused: list[VerdictRecord] = []
    admitted: dict[str, tuple[Arrival, Delta]] = {}
    for arrival in arrivals:
        named = parse_ref(arrival.source)
        try:
            if arrival.refusal is not None or arrival.data is None:
                code, reason = arrival.refusal or ("malformed", "no delta file")
                raise _Given(code, reason)
            delta = _admit(arrival.data, keyring, limits)
            if named != (delta.worker, delta.id):
                raise Malformed(
                    f"{arrival.source} holds delta {delta.id[:12]} of "
                    f"{delta.worker!r}, not the one its name claims"
                )
        except (Refused, _Given) as exc:
            size, sha256 = arrival.size, arrival.sha256
            if arrival.data is not None and not arrival.archived:
                size, sha256 = len(arrival.data), hashlib.sha256(arrival.data).hexdigest()
            refused.append(
                VerdictRecord(
                    arrival.source,
                    arrival.commit,
                    named[1] if named else None,
                    named[0] if named else None,
                    Outcome.REJECTED,
                    exc.code,
                    str(exc),
                    size=size,
                    sha256=sha256,
                )
            )
            continue
        admitted[delta.id] = (arrival, delta)
    deltas = [d for _, d in admitted.values()]
    held = {} if terms is None else _held(deltas, terms, limits, ledger)
    result = _reduce(frame, [d for d in deltas if d.id not in held], base, ledger, limits, words)
    if held:
        order = {d.id: key(d) for d in deltas}
        together = sorted([*result.verdicts, *held.values()], key=lambda v: order[v.delta])
        result = FrameResult(frame, result.documents, tuple(together))
    verdicts = [
        VerdictRecord.of(v, admitted[v.delta][0].source, admitted[v.delta][0].commit)
        for v in result.verdicts
    ]
    sources = frozenset(arrival.source for arrival, _ in admitted.values())
    return Settlement(frame, result, (*verdicts, *refused), arrivals, sources, terms, words)


def _held(
    deltas: list[Delta], terms: Terms, limits: Limits, ledger: Container[str]
) -> dict[str, Verdict]:
    """The rejections of the deltas that break ``terms``. One already settled is left to
    :func:`reduce`, which calls it a duplicate whatever its grant or clock says now."""
    out = {}
    for delta in deltas:
        if delta.id in ledger:
            continue
        try:
            within(delta, terms, limits)
        except Refused as exc:
            out[delta.id] = rejected(delta, exc.code, str(exc))
        except Exception as exc:  # a bug must reject one delta, not stall every frame
            why = f"checking its grant and clock failed ({_named(exc)})"
            out[delta.id] = rejected(delta, "internal-error", why)
    return out


def _reduce(
    frame: int,
    deltas: list[Delta],
    base: Reader,
    ledger: Container[str],
    limits: Limits,
    words: int,
) -> FrameResult:
    """:func:`reduce`, but a delta whose processing raises anything at all (MemoryError,
    RecursionError, a bug in gnp) is rejected alone, and the frame goes on without it:
    no delta, however built, may stop a frame, or every frame after it."""
    try:
        return reduce(frame, deltas, base, ledger, limits, words)
    except Exception as exc:  # who caused it is found below, one delta at a time
        together = exc
    broken: dict[str, BaseException] = {}
    for delta in deltas:
        try:
            reduce(frame, [delta], base, ledger, limits, words)
        except Exception as exc:
            broken[delta.id] = exc
    rest = [d for d in deltas if d.id not in broken]
    try:
        result = reduce(frame, rest, base, ledger, limits, words)
    except Exception as exc:  # none fails alone, all fail together: none applies
        broken.update(dict.fromkeys((d.id for d in rest), exc if broken else together))
        result = reduce(frame, [], base, ledger, limits, words)
    order = {d.id: key(d) for d in deltas}
    verdicts = [
        *result.verdicts,
        *(
            rejected(
                d,
                "internal-error",
                f"processing it failed ({_named(broken[d.id])}); the frame went on without it",
            )
            for d in deltas
            if d.id in broken
        ),
    ]
    verdicts.sort(key=lambda v: order[v.delta])
    return FrameResult(frame, result.documents, tuple(verdicts))


def _named(exc: BaseException) -> str:
    text = str(exc)
    return type(exc).__name__ + (f": {text[:200]}" if text else "")


def _admit(data: bytes, keyring: Keyring, limits: Limits) -> Delta:
    try:
        return admit(data, keyring, limits)
    except Refused:
        raise
    except Exception as exc:  # a bug must refuse one delta, not stall every frame after it
        raise _Given("internal-error", f"admission failed ({type(exc).__name__}: {exc})") from exc


class _Given(Exception):
    """A refusal decided before admission (by the git layer), carried through unchanged."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
