"""A frame's archive on ``main``: the verdict of every push that arrived, as recorded.

Theory of operation: frame N's commit keeps, under ``.gnp/frames/N/``, the delta file of
every admitted delta and ``verdicts.json``, one :class:`VerdictRecord` per inbox ref,
refused pushes included. What admission refused (an unregistered worker, bytes that
are not a delta, a bad signature) is not archived: anyone can push bytes to an inbox,
and ``main`` would keep them for ever. Its verdict keeps its size and SHA-256 instead.
Replay settles the same arrivals again and must write the same bytes,
so the JSON form here is fixed: its keys and their spelling are what every frame ever
merged holds, and :meth:`VerdictRecord.to_json` must never change them.
:class:`FrameRecord` is what lineage makes its rows of, read back from such a commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gnp.core.errors import Malformed
from gnp.core.inert import inert
from gnp.core.verdict import REPORTED, Outcome, Verdict


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """The verdict of one inbox ref at a frame: a delta's own verdict with where it came
    from, or the refusal of a push that never became an admitted delta."""

    source: str  # the inbox ref it arrived on
    commit: str  # the pushed commit: lets a rerun recognise what a frame consumed
    delta: str | None  # the delta's id; a refused push: the id its ref claims, if any
    worker: str | None
    outcome: Outcome
    code: str | None = None
    reason: str | None = None
    winner: str | None = None  # for a conflict: the delta that won
    # A refused push's bytes are not archived; their size and SHA-256 are, instead.
    size: int | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:  # inert, as a delta's own verdict is (Verdict)
        if self.reason is not None and not self.reason.isprintable():
            object.__setattr__(self, "reason", inert(self.reason))

    @classmethod
    def of(cls, verdict: Verdict, source: str, commit: str) -> VerdictRecord:
        return cls(
            source,
            commit,
            verdict.delta,
            verdict.worker,
            verdict.outcome,
            verdict.code,
            verdict.reason,
            verdict.winner,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "commit": self.commit,
            "delta": self.delta,
            "worker": self.worker,
            "outcome": self.outcome.value,
            "code": self.code,
            "reason": self.reason,
            "winner": self.winner,
            # Only where known, so that frames merged before these existed replay exactly.
            **({} if self.size is None else {"size": self.size}),
            **({} if self.sha256 is None else {"sha256": self.sha256}),
        }

    @classmethod
    def from_json(cls, data: object) -> VerdictRecord:
        """One archived verdict, as :meth:`to_json` wrote it (the earliest frames did not
        record the commit)."""
        if not isinstance(data, dict):
            raise Malformed(f"an archived verdict is a JSON object, not {type(data).__name__}")
        try:
            return cls(
                _text(data, "source"),
                _text(data, "commit") or "",
                _text(data, "delta"),
                _text(data, "worker"),
                Outcome(data["outcome"]),
                _text(data, "code"),
                _text(data, "reason"),
                _text(data, "winner"),
                _size(data.get("size")),
                _text(data, "sha256"),
            )
        except (KeyError, ValueError) as exc:
            raise Malformed(f"an archived verdict is damaged: {exc}") from None


def _text(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"an archived verdict's {key} is not a string: {value!r}")
    if key == "source" and value is None:
        raise Malformed("an archived verdict names no source")
    return value


def _size(value: object) -> int | None:
    if value is not None and (type(value) is not int or value < 0):
        raise Malformed(f"an archived verdict's size is not a byte count: {value!r}")
    return value


def verdicts_from_json(data: object) -> tuple[VerdictRecord, ...]:
    """A frame's ``verdicts.json``, parsed."""
    if not isinstance(data, list):
        raise Malformed("a frame's verdicts are a JSON array")
    return tuple(VerdictRecord.from_json(v) for v in data)


def counts(verdicts: Iterable[VerdictRecord]) -> dict[Outcome, int]:
    """How many verdicts of each outcome, every outcome named, in the order reports use."""
    out = dict.fromkeys(REPORTED, 0)
    for v in verdicts:
        out[v.outcome] += 1
    return out


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """What lineage needs of one frame, as the frame's commit archives it."""

    frame: int
    base_commit: str
    result_commit: str
    verdicts: tuple[VerdictRecord, ...]
    deltas: Mapping[str, bytes]  # source ref -> archived delta file
