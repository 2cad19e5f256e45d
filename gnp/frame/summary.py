"""A frame's summary: what one frame did, typed, and its two renderings.

The same value is what the frame flow returns, what ``gnp frame`` shows (or prints as
JSON with ``--json``), and what the flow's Prefect artifact shows as markdown, so every
view of a frame says the same thing. It becomes JSON only where it leaves the program.

Failure looks like failure. A frame whose roster did none of its work (every worker fell
back or failed; a roster of none is not one) or in which a worker could not leave even a
fallback still merges the inbox and records everything, since a failed worker changes
nothing and other deltas are owed their frame; but its summary says why it failed
(:attr:`FrameSummary.failure`), its flow run ends Failed and ``gnp frame`` exits
non-zero. Some workers falling back is a frame doing its job with a warning
(:attr:`FrameSummary.warning`): one agent's bad day must not turn every frame red.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gnp.core.archive import VerdictRecord, counts
from gnp.core.errors import GnpError
from gnp.core.inert import inert_cell
from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame.workers import WorkerOutcome
from gnp.git.engine import FrameReport


@dataclass(frozen=True, slots=True)
class FrameSummary:
    frame: int | None  # None: nothing to merge, and main did not move
    base: str  # main before
    commit: str | None  # main after
    verdicts: tuple[VerdictRecord, ...]
    swept: tuple[str, ...]  # inbox refs of deltas already merged, removed
    workers: tuple[WorkerOutcome, ...]
    lineage: str | None  # where the frame's lineage rows were written
    flow_run_id: str | None  # the flow run that ran it, if one did
    seconds: float | None

    @classmethod
    def of(
        cls,
        report: FrameReport,
        workers: Sequence[WorkerOutcome] = (),
        *,
        lineage: str | None = None,
        flow_run_id: str | None = None,
        seconds: float | None = None,
    ) -> FrameSummary:
        return cls(
            report.frame,
            report.base,
            report.commit,
            report.verdicts,
            report.swept,
            tuple(workers),
            lineage,
            flow_run_id,
            seconds,
        )

    @property
    def counts(self) -> dict[Outcome, int]:
        """Deltas by verdict, every verdict named, in the order reports use."""
        return counts(self.verdicts)

    @property
    def unreported(self) -> list[str]:
        """Workers that got no delta at all, not even a fallback (a missing key, say)."""
        return [w.worker for w in self.workers if w.status is WorkerStatus.FAILED]

    @property
    def failure(self) -> str | None:
        """Why this frame failed, in one line; None if it did not (module docstring)."""
        down = _down(self.workers)
        failed = [w for w in self.workers if w.status is WorkerStatus.FAILED]
        if self.workers and len(down) == len(self.workers):
            return f"every roster worker fell back{' or failed' if failed else ''}: " + _why(down)
        if failed:
            return f"{len(failed)} worker(s) could not submit even a fallback: " + _why(failed)
        return None

    @property
    def warning(self) -> str | None:
        """Some roster workers fell back, not all: the frame did its job, but say so."""
        down = _down(self.workers)
        if not down or self.failure is not None:
            return None
        return f"{len(down)} of {len(self.workers)} roster workers fell back: " + _why(down)

    def notable(self) -> list[VerdictRecord]:
        """The verdicts worth a line: all but ``applied``."""
        return [v for v in self.verdicts if v.outcome is not Outcome.APPLIED]

    def headline(self) -> str:
        if self.frame is None or self.commit is None:
            return "nothing to merge: the inbox holds no new deltas"
        counts = ", ".join(f"{n} {outcome}" for outcome, n in self.counts.items())
        return f"frame {self.frame}: {counts}; main is now {self.commit[:12]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "base": self.base,
            "commit": self.commit,
            "counts": {o.value: n for o, n in self.counts.items()},
            "verdicts": [v.to_json() for v in self.verdicts],
            "swept": list(self.swept),
            "workers": [w.to_json() for w in self.workers],
            "lineage": self.lineage,
            "flow_run_id": self.flow_run_id,
            "seconds": self.seconds,
            "failure": self.failure,
            "warning": self.warning,
        }

    def markdown(self) -> str:
        """The frame as a short markdown report (the flow's artifact)."""
        lines = [f"# {self.headline()}", ""]
        if self.failure:
            lines += [f"**Failed:** {_cell(self.failure)}", ""]
        elif self.warning:
            lines += [f"**Warning:** {_cell(self.warning)}", ""]
        if self.frame is not None:
            lines += [f"Base `{self.base}`, new main `{self.commit}`.", ""]
            lines += ["| verdict | deltas |", "|---|---|"]
            lines += [f"| {o} | {n} |" for o, n in self.counts.items()]
            if self.notable():
                lines += ["", "| outcome | worker | delta | why |", "|---|---|---|---|"]
                lines += [
                    f"| {v.outcome} | {_cell(v.worker or '?')} | {_code((v.delta or '')[:12])} "
                    f"| {_cell(v.reason)} |"
                    for v in self.notable()
                ]
        if self.workers:
            lines += ["", "| worker | outcome | seconds | note |", "|---|---|---|---|"]
            lines += [
                f"| {_cell(w.worker)} | {w.status} | {w.seconds:.2f} | {_cell(w.error)} |"
                for w in self.workers
            ]
        if self.lineage:
            lines += ["", f"Lineage: {_code(self.lineage)}"]
        return "\n".join(lines) + "\n"


class FrameFailed(GnpError):
    """What a caller of the frame flow gets for a frame that failed (:attr:`FrameSummary.failure`)
    but was merged and recorded: the summary, to show along with the one line."""

    def __init__(self, summary: FrameSummary) -> None:
        super().__init__(summary.failure or "the frame failed")
        self.summary = summary

    def __reduce__(self) -> tuple[type[FrameFailed], tuple[FrameSummary]]:
        return (FrameFailed, (self.summary,))  # Prefect keeps it as the run's result


def _down(workers: Sequence[WorkerOutcome]) -> list[WorkerOutcome]:
    return [w for w in workers if w.status in (WorkerStatus.FALLBACK, WorkerStatus.FAILED)]


SHOWN = 3  # workers a one-line reason names, with why; the rest are counted


def _why(workers: Sequence[WorkerOutcome]) -> str:
    named = [f"{w.worker} ({_short(w.error)})" for w in workers[:SHOWN]]
    more = len(workers) - SHOWN
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _short(error: str | None) -> str:
    line = " ".join((error or "no reason given").split())
    return line if len(line) <= 160 else line[:157] + "..."


def _cell(text: object) -> str:
    """What a worker or a delta wrote, in a table cell or a line of markdown: inert, and
    unable to end the cell or the line, or to make markup of its own."""
    return inert_cell(text)


def _code(text: str) -> str:
    """A code span for an id or a path; anything else, which a backtick or a ``|`` could
    break out of, as a plain cell."""
    return f"`{text}`" if _PLAIN.fullmatch(text) else _cell(text)


_PLAIN = re.compile(r"[\w./:@+=,-]*", re.ASCII)
