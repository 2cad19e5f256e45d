"""The ``gnp`` entry point: gnp's own commands plus those that run Prefect flows.

``frame``, ``replay`` and ``demo`` live here, above gnp, so that arrows point one way
(flows -> tasks -> gnp). Prefect is imported only when one of them runs: it takes a
second to import, and ``gnp submit`` must stay quick.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gnp import canonical
from gnp.cli import HubOption, LineageOption, app, err, out, tell
from gnp.cli import main as gnp_main
from gnp.errors import GnpError

RosterOption = Annotated[
    str | None,
    typer.Option(
        "--roster",
        help="A JSON file: the workers to run, [{id, call|command, authority, timeout}].",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for machines.")]


@contextlib.contextmanager
def _prefect() -> Iterator[None]:
    """Settings for Prefect, each only if the user has not chosen: run logs go to the
    Prefect server (and its UI), not the terminal, where the summary says it all and an
    error is one line; no telemetry; time for a server's cold start; task runs recorded
    in batches (flows.runs.FRAME_SERVER). With no server configured, one is started for
    the command, out of reach of the terminal's Ctrl-C (flows.server)."""
    if "PREFECT_LOGGING_LEVEL" not in os.environ:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.runs import FRAME_SERVER

    for name, value in FRAME_SERVER.items():  # for the server, if one starts
        os.environ.setdefault(name, value)
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        yield  # a server of the user's, or none allowed: Prefect says what is wrong
        return
    err.print(
        "starting a Prefect server for this command (10-20 s; "
        "set PREFECT_API_URL to use a running one)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    from flows.server import local_server

    timeout = settings.server.ephemeral.startup_timeout_seconds
    env = settings.to_environment_variables(exclude_unset=True)
    with local_server(env, timeout) as url, temporary_settings({PREFECT_API_URL: url}):
        try:
            yield
        finally:
            _flush()  # the runs' last logs and events, while the server is there


def _flush() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(Exception):  # best effort: the frame itself is done
        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)


@app.command()
def frame(
    hub: HubOption,
    roster: RosterOption = None,
    max_workers: Annotated[int, typer.Option(help="Worker tasks at once.", min=1)] = 8,
    lineage: LineageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run one frame now, as a Prefect flow run: the roster's workers, then the merge."""
    from gnp.frames import lineage_root
    from gnp.hub import Hub
    from gnp.lineage import check_writable
    from gnp.roster import load
    from gnp.summary import headline

    # A missing hub, a bad roster or an unwritable lineage location is one line here,
    # before Prefect starts.
    opened = Hub.open(hub)
    check_writable(lineage_root(opened, lineage))
    before = opened.state().frame
    entries = [m.to_json() for m in load(roster)] if roster else None
    try:
        with _prefect(), _progress(len(entries or ())):
            from flows.frame import frame as frame_flow

            summary = _flow_run(lambda: frame_flow(hub, entries, max_workers, lineage))
    except KeyboardInterrupt:
        _merged_before(hub, before)
        raise
    if as_json:
        print(canonical.encode_pretty(summary).decode())
        _fail_if_unreported(summary)
        return
    for ref in summary["swept"]:
        _say(f"removed {ref}: already merged")
    _say(headline(summary))
    for v in summary["verdicts"]:
        if v["outcome"] != "applied":
            _say(
                f"  {v['outcome']:9} {v['worker'] or '?'} {(v['delta'] or '')[:12]}: {v['reason']}"
            )
    if summary["workers"]:
        out.print(_workers_table(summary["workers"]))
    if summary["lineage"]:
        _say(f"lineage: {summary['lineage']}")
    _fail_if_unreported(summary)


def _merged_before(hub: str, before: int) -> None:
    """A Ctrl-C can come after the merge, while lineage and the summary are written: say
    that the frame was merged, or "interrupted" alone would suggest that nothing was."""
    from gnp.hub import Hub

    with contextlib.suppress(Exception):  # the interrupt is what matters; this is a hint
        now = Hub.open(hub).state().frame
        if now > before:
            tell(
                f"frame {now} was merged before the interrupt "
                "(if its lineage is missing, the next frame that merges a delta writes it)"
            )


@contextlib.contextmanager
def _progress(total: int) -> Iterator[None]:
    """Each worker's outcome on stderr as it finishes: a frame of agents can take minutes,
    and the summary comes only at its end."""
    from tasks.worker import OUTCOMES

    class Shown(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.done = 0

        def emit(self, record: logging.LogRecord) -> None:  # one at a time: handle() locks
            self.done += 1
            line = f"[{self.done}/{total}] {record.getMessage()}"
            err.print(line, markup=False, highlight=False, soft_wrap=True)

    shown = Shown()
    OUTCOMES.addHandler(shown)
    try:
        yield
    finally:
        OUTCOMES.removeHandler(shown)


def _fail_if_unreported(summary: dict[str, Any]) -> None:
    """Exit non-zero when a worker got no delta at all, not even a fallback: the frame
    ran, but automation must notice (a missing key, say)."""
    failed = [w["worker"] for w in summary["workers"] if w["status"] == "failed"]
    if failed:
        raise GnpError(f"{len(failed)} worker(s) could not submit even a fallback: {failed}")


def _flow_run(call: Any) -> Any:
    """Run a flow; whatever goes wrong outside gnp (Prefect unreachable, say) is one
    line here, and the whole story is in the flow run's logs."""
    from flows.runs import started_here

    try:
        with started_here():
            return call()
    except GnpError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GnpError(f"the flow run failed: {type(exc).__name__}: {first}") from None


@app.command()
def replay(
    hub: HubOption,
    frame: Annotated[int | None, typer.Option("--frame", help="The frame number.")] = None,
    first: Annotated[int | None, typer.Option("--first", help="Replay from this frame.")] = None,
    last: Annotated[int | None, typer.Option("--last", help="Replay up to this frame.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-derive frame N (or a range; all by default) from its parent and its archive, as
    a Prefect flow run; exit 0 iff every one matches what main recorded."""
    from gnp.replay import frames_to_replay

    frames_to_replay(hub, frame, first, last)  # a bad range is one line, before Prefect
    with _prefect():
        from flows.replay import replay as replay_flow

        reports = _flow_run(lambda: replay_flow(hub, frame, first, last, fail_on_mismatch=False))
    if as_json:
        print(canonical.encode_pretty(reports).decode())
    else:
        for r in reports:
            _say(_replay_line(r))
        if not reports:
            _say("no frames yet: nothing to replay")
    differing = [r["frame"] for r in reports if not r["identical"]]
    if differing:
        raise GnpError(f"{len(differing)} frame(s) do not replay: {differing}")


@app.command()
def demo() -> None:
    """The whole protocol on an embedded default, in a temporary folder: three frames of
    simulated agents as Prefect flow runs, then every frame replayed."""
    import tempfile
    from pathlib import Path

    from gnp.summary import headline

    folder = Path(tempfile.mkdtemp(prefix="gnp-demo-"))
    os.environ["GNP_HOME"] = str(folder / "home")  # the demo's keys stay in its folder
    out.print(f"[bold]gnp demo[/] in {escape(str(folder))}")
    with _prefect():
        from flows.demo import run as run_demo
        from flows.runs import started_here

        with started_here():
            result = run_demo(folder, progress=lambda t: out.print(f"[dim]>[/] {escape(t)}"))
    for summary in result.summaries:
        out.print(f"\n[bold]{escape(headline(summary))}[/]")
        for v in summary["verdicts"]:
            if v["outcome"] != "applied":
                _say(f"  {v['outcome']:9} {v['worker'] or '?'}: {v['reason']}")
    _closing(result)
    if result.problems:
        raise GnpError("the demo's checks failed: " + "; ".join(result.problems))


def _closing(result: Any) -> None:
    from gnp.hub import Hub

    hub = Hub.open(result.hub)
    state = hub.state()
    stats = state.document("stats.json")
    status = state.document("agents.json")["agents"]["scout"]["status"]
    conflict = next(
        v for s in result.summaries for v in s["verdicts"] if v["outcome"] == "conflict"
    )
    fallbacks = [
        f"{v['worker']} (frame {s['frame']}: {v['reason']})"
        for s in result.summaries
        for v in s["verdicts"]
        if v["outcome"] == "fallback"
    ]
    out.print("\n[bold]Summary[/]")
    _say(f"  counters exact: {stats} (5 posts, 3 comments, 5 + 10 + 5 visits)")
    _say(f"  conflict: {conflict['worker']}'s delta {conflict['reason']}; the scout is {status!r}")
    _say("  fallbacks, nothing of their edits applied: " + "; ".join(fallbacks))
    _say(
        "  forged delta: rejected, "
        + next(
            v["reason"]
            for s in result.summaries
            for v in s["verdicts"]
            if v["outcome"] == "rejected"
        )
    )
    _say(f"  lineage: {result.lineage}")
    for r in result.replays:
        _say("  " + _replay_line(r))
    where = str(result.hub)
    gnp = "gnp" if shutil.which("gnp") else sys.argv[0]  # as it was run: .venv/bin/gnp
    out.print("\n[bold]Look further[/]")
    for line in (
        f"{gnp} lineage --hub {where}",
        f"{gnp} lineage --hub {where} --summary",
        f"{gnp} replay --hub {where} --frame 2",
        f"git --git-dir {where} log --format='%h %s' main",
        f"git --git-dir {where} show main:stats.json",
    ):
        _say(f"  {line}")
    # Left behind on purpose, for the commands above; say so, or it piles up unnoticed.
    _say(f"\nWhen done, remove the demo's folder: rm -r {shlex.quote(str(result.hub.parent))}")


def _replay_line(r: dict[str, Any]) -> str:
    if r["identical"]:
        return f"frame {r['frame']}: replays identically (tree {r['recorded_tree'][:12]})"
    return (
        f"frame {r['frame']}: DIFFERS: recorded tree {r['recorded_tree'][:12]}, "
        f"replayed {r['replayed_tree'][:12]}; at " + ", ".join(r["paths"][:20])
    )


def _workers_table(workers: list[dict[str, Any]]) -> Table:
    view = Table(title="Workers")
    for column in ("worker", "outcome", "seconds", "note"):
        view.add_column(column)
    for w in workers:
        cells = (w["worker"], w["status"], f"{w['seconds']:.2f}", w["error"] or "")
        view.add_row(*(Text(c) for c in cells))  # never markup: errors quote worker output
    return view


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False)


def main() -> None:
    """The ``gnp`` command: gnp's commands, with the ones above registered on its app."""
    gnp_main()
