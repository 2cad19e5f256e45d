"""A frame's summary: what one frame did, typed, and its two renderings.

The same value is what the frame flow returns, what ``gnp frame`` shows (or prints as
JSON with ``--json``), and what the flow's Prefect artifact shows as markdown, so every
view of a frame says the same thing. It becomes JSON only where it leaves the program.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gnp.core.archive import VerdictRecord, counts
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
        }

    def markdown(self) -> str:
        """The frame as a short markdown report (the flow's artifact)."""
        lines = [f"# {self.headline()}", ""]
        if self.frame is not None:
            lines += [f"Base `{self.base}`, new main `{self.commit}`.", ""]
            lines += ["| verdict | deltas |", "|---|---|"]
            lines += [f"| {o} | {n} |" for o, n in self.counts.items()]
            if self.notable():
                lines += ["", "| outcome | worker | delta | why |", "|---|---|---|---|"]
                lines += [
                    f"| {v.outcome} | {v.worker or '?'} | `{(v.delta or '')[:12]}` "
                    f"| {_cell(v.reason)} |"
                    for v in self.notable()
                ]
        if self.workers:
            lines += ["", "| worker | outcome | seconds | note |", "|---|---|---|---|"]
            lines += [
                f"| {w.worker} | {w.status} | {w.seconds:.2f} | {_cell(w.error)} |"
                for w in self.workers
            ]
        if self.lineage:
            lines += ["", f"Lineage: `{self.lineage}`"]
        return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")
