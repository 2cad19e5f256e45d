"""A frame's summary: one JSON document for machines, and markdown for people.

The same document is what ``gnp frame --json`` prints, what the frame flow returns and
what its Prefect artifact shows, so every view of a frame says the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .engine import FrameReport
from .verdict import REPORTED
from .workers import WorkerOutcome

VERDICTS = REPORTED


def summarize(
    report: FrameReport,
    workers: Sequence[WorkerOutcome] = (),
    *,
    lineage: str | None = None,
    flow_run_id: str | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    return {
        "frame": report.frame,
        "base": report.base,
        "commit": report.commit,
        "counts": {outcome: report.count(outcome) for outcome in VERDICTS},
        "verdicts": list(report.verdicts),
        "swept": list(report.swept),
        "workers": [w.to_json() for w in workers],
        "lineage": lineage,
        "flow_run_id": flow_run_id,
        "seconds": seconds,
    }


def headline(summary: dict[str, Any]) -> str:
    if summary["frame"] is None:
        return "nothing to merge: the inbox holds no new deltas"
    counts = ", ".join(f"{n} {outcome}" for outcome, n in summary["counts"].items())
    return f"frame {summary['frame']}: {counts}; main is now {summary['commit'][:12]}"


def markdown(summary: dict[str, Any]) -> str:
    """The frame as a short markdown report (the flow's artifact)."""
    lines = [f"# {headline(summary)}", ""]
    if summary["frame"] is not None:
        lines += [f"Base `{summary['base']}`, new main `{summary['commit']}`.", ""]
        lines += ["| verdict | deltas |", "|---|---|"]
        lines += [f"| {o} | {n} |" for o, n in summary["counts"].items()]
        notable = [v for v in summary["verdicts"] if v["outcome"] != "applied"]
        if notable:
            lines += ["", "| outcome | worker | delta | why |", "|---|---|---|---|"]
            lines += [
                f"| {v['outcome']} | {v['worker'] or '?'} | `{(v['delta'] or '')[:12]}` "
                f"| {_cell(v['reason'])} |"
                for v in notable
            ]
    if summary["workers"]:
        lines += ["", "| worker | outcome | seconds | note |", "|---|---|---|---|"]
        lines += [
            f"| {w['worker']} | {w['status']} | {w['seconds']:.2f} | {_cell(w['error'])} |"
            for w in summary["workers"]
        ]
    if summary["lineage"]:
        lines += ["", f"Lineage: `{summary['lineage']}`"]
    return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")
