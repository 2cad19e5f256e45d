"""What the commands print, and how.

Everything that came from a delta or a worker (reasons, worker output, file names) is
printed as text, never as rich markup, so that what an agent wrote cannot restyle or
hide a line. A message on stderr is one line however long: the README promises it, and
rich would wrap it at 80 columns when stderr is not a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd

    from gnp.frame.summary import FrameSummary
    from gnp.frame.workers import WorkerOutcome
    from gnp.git.replay import ReplayReport
    from gnp.git.verify import Verification
    from gnp.process.janitor import Sweep

out = Console(soft_wrap=True)
err = Console(stderr=True)


def tell(message: str) -> None:
    """One line on stderr: ``gnp: message``."""
    err.print(f"gnp: {message}", markup=False, highlight=False, emoji=False, soft_wrap=True)


def say(text: str) -> None:
    """A line on stdout, as text."""
    out.print(text, markup=False, highlight=False)


def progress(line: str) -> None:
    """A line on stderr while work goes on: a worker's outcome as it ends, a server starting."""
    err.print(line, markup=False, highlight=False, soft_wrap=True)


def verification(result: Verification) -> None:
    """One line per check; a failing check's further findings indented beneath it."""
    for check in result.checks:
        say(check.line())
        for finding in check.findings[1:]:
            say(f"        {finding.line()}")


def frame(summary: FrameSummary) -> None:
    """A frame's summary, for people: swept refs, the headline, every verdict but
    ``applied``, the workers and where lineage went."""
    for ref in summary.swept:
        say(f"removed {ref}: already merged")
    say(summary.headline())
    if summary.failure is not None:
        say(f"failed: {summary.failure}")
    elif summary.warning is not None:
        say(f"warning: {summary.warning}")
    for v in summary.notable():
        say(f"  {v.outcome:9} {v.worker or '?'} {(v.delta or '')[:12]}: {v.reason}")
    if summary.workers:
        out.print(workers_table(summary.workers))
    if summary.lineage:
        say(f"lineage: {summary.lineage}")


def workers_table(workers: tuple[WorkerOutcome, ...]) -> Table:
    view = Table(title="Workers")
    for column in ("worker", "outcome", "seconds", "note"):
        view.add_column(column)
    for w in workers:
        cells = (w.worker, w.status.value, f"{w.seconds:.2f}", w.error or "")
        view.add_row(*(Text(c) for c in cells))  # never markup: errors quote worker output
    return view


def replay_line(r: ReplayReport) -> str:
    if r.identical:
        return f"frame {r.frame}: replays identically (tree {r.recorded_tree[:12]})"
    return (
        f"frame {r.frame}: DIFFERS: recorded tree {r.recorded_tree[:12]}, "
        f"replayed {r.replayed_tree[:12]}; at " + ", ".join(r.paths[:20])
    )


def sweep(report: Sweep) -> None:
    said = [
        *(f"rescued {line}" for line in report.rescued),
        *(f"submitted {line}" for line in report.fallbacks),
        *(f"no fallback for {line}" for line in report.unreported),
        *(f"removed {line}" for line in report.removed),
        *(f"kept {line}" for line in report.kept),
    ]
    for line in said:
        say(line)
    if not said:
        out.print("nothing to clean")


def lineage_rows(table: pd.DataFrame) -> None:
    view = Table(title="Lineage")
    for column in ("frame", "worker", "delta", "status", "why"):
        view.add_column(column)
    for row in table.itertuples():
        view.add_row(  # Text, never markup: reasons quote what workers printed
            Text(str(row.frame)),
            Text(_text(row.worker) or "?"),
            Text(_text(row.delta_id)[:12]),
            Text(_text(row.status)),
            Text(_text(row.reason)),
        )
    out.print(view)


def lineage_frames(table: pd.DataFrame) -> None:
    from gnp.core.verdict import REPORTED

    outcomes = [o.value for o in REPORTED]
    view = table[["frame", "deltas", *outcomes, "result_commit", "frame_seconds"]].rename(
        columns={"result_commit": "main after", "frame_seconds": "seconds"}
    )
    view["main after"] = view["main after"].str[:10]
    say(str(view.to_string(index=False, float_format=lambda x: f"{x:.2f}")))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""  # pandas gives NaN for a missing string
