"""What the commands print, and how.

Everything that came from a delta or a worker (reasons, worker output, file names,
pointers, delta ids read from ref names) is printed as text, never as rich markup, and
inert (:func:`gnp.core.inert.inert`: controls, bidi overrides and the like escaped), so
that what an agent wrote cannot restyle, hide or forge a line, nor drive the terminal.
A message on stderr is one line however long: the README promises it, and rich would
wrap it at 80 columns when stderr is not a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd

    from gnp.core.archive import VerdictRecord
    from gnp.frame.summary import FrameSummary
    from gnp.frame.workers import WorkerOutcome
    from gnp.git.look import Status, Story, Waiting
    from gnp.git.replay import ReplayReport
    from gnp.git.verify import Verification
    from gnp.process.janitor import Sweep

out = Console(soft_wrap=True)
err = Console(stderr=True)


def inert(text: str) -> str:
    """:func:`gnp.core.inert.inert`, imported only for text that needs it: a usage error
    (``gnp no-such``) is told without loading gnp."""
    if text.isprintable():
        return text
    from gnp.core.inert import inert as escaped

    return escaped(text)


def tell(message: str) -> None:
    """One line on stderr: ``gnp: message``, inert (errors quote what workers wrote), and
    with no URL's secret in it."""
    if "://" in message and "@" in message:  # else no secret, and no gnp to load
        from gnp.git.address import redact

        message = redact(message)
    err.print(f"gnp: {inert(message)}", markup=False, highlight=False, emoji=False, soft_wrap=True)


def say(text: str) -> None:
    """A line on stdout, as text. What came from a delta or a worker is made inert by
    the caller, field by field: the line's own newlines are the caller's."""
    out.print(text, markup=False, highlight=False)


def progress(line: str) -> None:
    """A line on stderr while work goes on: a worker's outcome as it ends, a server starting."""
    err.print(inert(line), markup=False, highlight=False, soft_wrap=True)


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
        say(f"removed {inert(ref)}: already merged")
    say(summary.headline())
    if summary.failure is not None:
        say(f"failed: {inert(summary.failure)}")
    elif summary.warning is not None:
        say(f"warning: {inert(summary.warning)}")
    for v in summary.notable():
        say(verdict_line(v))
    if summary.workers:
        out.print(workers_table(summary.workers))
    if summary.lineage:
        say(f"lineage: {inert(summary.lineage)}")


def verdict_line(v: VerdictRecord, *, delta: bool = True) -> str:
    """``  rejected  alice 1a2b3c4d5e6f: why``, every field inert."""
    shown = f" {inert((v.delta or '')[:12])}" if delta else ""
    return f"  {v.outcome:9} {inert(v.worker or '?')}{shown}: {inert(v.reason or '')}"


def json_text(text: str) -> str:
    """JSON for machines, still safe on a terminal: a character :func:`inert` would escape
    is written as a JSON escape (``\\u202e``), so the document means the same. Inside
    JSON strings only: a newline outside them is the layout's, and kept."""
    from gnp.core.inert import hidden

    lines = text.split("\n")
    return "\n".join(
        line if line.isprintable() else "".join(_json_escape(c) if hidden(c) else c for c in line)
        for line in lines
    )


def json(value: object) -> None:
    """``value`` (JSON-shaped) printed for machines: canonical, indented, and safe on a
    terminal (:func:`json_text`)."""
    from gnp.core import canonical

    print(json_text(canonical.encode_pretty(value).decode()))


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def workers_table(workers: tuple[WorkerOutcome, ...]) -> Table:
    view = Table(title="Workers")
    for column in ("worker", "outcome", "seconds", "note"):
        view.add_column(column, overflow="fold")  # a long note wraps, never cut
    for w in workers:
        cells = (w.worker, w.status.value, f"{w.seconds:.2f}", w.error or "")
        view.add_row(*(Text(inert(c)) for c in cells))  # never markup: errors quote worker output
    return view


def replay_line(r: ReplayReport) -> str:
    if r.identical:
        return f"frame {r.frame}: replays identically (tree {r.recorded_tree[:12]})"
    return (
        f"frame {r.frame}: DIFFERS: recorded tree {r.recorded_tree[:12]}, "
        f"replayed {r.replayed_tree[:12]}; at " + ", ".join(inert(p) for p in r.paths[:20])
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
        say(inert(line))  # lines quote paths, branches and refs a worker named
    if not said:
        out.print("nothing to clean")


def lineage_rows(table: pd.DataFrame) -> None:
    # Rows in the order the frame took them (composite key: frame, utc, worker, id), so
    # utc is shown; a long reason wraps in its cell, never cut.
    view = Table(title="Lineage")
    for column in ("frame", "utc", "worker", "delta", "status", "why"):
        view.add_column(column, overflow="fold")
    for row in table.itertuples():
        view.add_row(  # Text, never markup: reasons quote what workers printed
            Text(str(row.frame)),
            Text(inert(_text(row.utc))),
            Text(inert(_text(row.worker)) or "?"),
            Text(inert(_text(row.delta_id)[:12])),
            Text(inert(_text(row.status))),
            Text(inert(_text(row.reason))),
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


def inbox(items: list[Waiting]) -> None:
    """The deltas waiting for the next frame, in the order it will take them."""
    if not items:
        say("the inbox is empty: nothing waits for the next frame")
        return
    view = Table(title=f"Inbox: {len(items)} waiting")
    for column in ("delta", "worker", "utc", "base", "ops", "files", "note"):
        view.add_column(column, overflow="fold")  # wrapped, never cut
    for w in items:
        cells = (
            (w.delta or "?")[:12],
            w.worker or "?",
            w.utc or "",
            "" if w.base_frame is None else str(w.base_frame),
            "" if w.ops is None else str(w.ops),
            ", ".join(w.files),
            w.problem or "",
        )
        view.add_row(*(Text(inert(c)) for c in cells))
    out.print(view)


def story(s: Story) -> None:
    """One delta: its fields, its operations, its signature, and what became of it."""
    d = s.delta
    say(f"delta {d.id}")
    say(f"  worker {inert(d.worker)}, author {inert(d.author)}, authority {d.authority}")
    say(f"  made on frame {d.frame} at {inert(d.utc)}; status {inert(d.status)}")
    if d.error:
        say(f"  error: {inert(d.error)}")
    say(f"  signature: {inert(s.signed)}")
    say(f"  operations ({len(d.ops)}):")
    from gnp.core import canonical, wording

    for op in d.ops:
        where = wording.place(op.file, op.path)
        source = f" from {op.from_}" if op.from_ is not None else ""
        value = canonical.encode(op.value).decode() if op.value is not None else ""
        if len(value) > 200:
            value = value[:200] + f"... ({len(value)} characters)"
        say(inert(f"    {op.op} {where}{source} {value}".rstrip()))
    if s.waiting is not None:
        say(f"  waiting in the inbox: {inert(s.waiting)}")
    for frame, v in s.verdicts:
        winner = f" (winner {v.winner[:12]})" if v.winner else ""
        why = f": {inert(v.reason)}" if v.reason else ""
        say(f"  frame {frame}: {v.outcome}{winner}{why}")
    if s.waiting is None and not s.verdicts:
        say("  no verdict yet")


def status(s: Status) -> None:
    """The hub at a glance."""
    say(f"hub {inert(s.location)} (id {s.hub_id[:12]})")
    say(f"  frame {s.frame}, main at {s.main[:12]}")
    say(f"  {s.waiting} delta(s) waiting for the next frame")
    if s.frame:
        counts = ", ".join(f"{n} {o}" for o, n in s.last_frame.items()) or "nothing"
        say(f"  last frame: {counts}")
    if not s.workers:
        say("  no workers registered yet")
        return
    view = Table(title="Workers")
    for column in ("worker", "authority", "files"):
        view.add_column(column, overflow="fold")
    for worker, grant in s.workers:
        cells = (worker, str(grant.authority), ", ".join(grant.files) or "none")
        view.add_row(*(Text(inert(c)) for c in cells))
    out.print(view)
