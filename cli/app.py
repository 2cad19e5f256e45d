"""The ``gnp`` command line: one Typer app, every command.

Each command is a few lines that check what they were given, call gnp (or a flow, or
the deployments), and hand the result to :mod:`gnp_cli.show`. What a command needs is
imported inside it: ``gnp --help`` loads nothing of gnp, a quick command does not pay for
pygit2, and none but ``frame``, ``replay``, ``demo`` and ``serve`` for Prefect, which
takes a second or more to import. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gnp_cli import show
from gnp_cli.show import tell

if TYPE_CHECKING:
    from gnp_cli.resident import Resident

app = typer.Typer(
    name="gnp",
    help="The Good Neighbor Protocol: many workers, one canonical JSON state in git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal's width
)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"gnp {version('gnp')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            print("gnp (not installed: no version)")
        raise typer.Exit()


@app.callback()
def _root(
    _: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print gnp's version and exit."
        ),
    ] = False,
) -> None:
    """The Good Neighbor Protocol: many workers, one canonical JSON state in git."""


HubOption = Annotated[
    str,
    typer.Option(
        "--hub",
        help="The hub: a path to its bare repository, or a git URL "
        "(file://, ssh://, https://, user@host:path).",
    ),
]
WorkerOption = Annotated[str, typer.Option("--worker", help="Your worker id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for machines.")]
RosterOption = Annotated[
    str | None,
    typer.Option(
        "--roster",
        help="A JSON file: the workers to run, [{id, call|command, authority, timeout, cwd}]; "
        "their paths resolve from its folder (or their cwd).",
    ),
]
LineageOption = Annotated[
    str | None,
    typer.Option("--lineage", help="Where lineage goes: a folder or a pyarrow URI (s3://...)."),
]
# The same option on the command that only reads lineage: the place a frame wrote it.
LineageReadOption = Annotated[
    str | None,
    typer.Option(
        "--lineage",
        help="Where to read lineage from, if a frame wrote it elsewhere (gnp frame "
        "--lineage): a folder or a pyarrow URI (s3://...).",
    ),
]
MaxWorkersOption = Annotated[int, typer.Option(help="Worker tasks at once.", min=1)]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS",
        help="Run the worker tasks on the Dask cluster whose scheduler is at ADDRESS "
        "(tcp://host:8786), each where its key is; across machines, give the hub as a URL.",
    ),
]


# The protocol and git ---------------------------------------------------------------------


@app.command()
def init(
    hub: Annotated[str, typer.Argument(help="Where to create the hub (a new folder).")],
) -> None:
    """Create a hub: a bare repository whose main holds empty state."""
    from gnp.git.hub import Hub

    created = Hub.init(hub)
    show.say(f"created hub {created.path} (frame 0, no workers yet)")
    show.say(f"next: gnp keygen WORKER --hub {hub}")


@app.command()
def keygen(
    worker: Annotated[str, typer.Argument(help="The worker id to make a key pair for.")],
    hub: HubOption,
    force: Annotated[bool, typer.Option(help="Replace an existing key.")] = False,
) -> None:
    """Make WORKER's key pair and register its public key on the hub's keyring."""
    from gnp.git.connect import open_hub
    from gnp.git.registry import register

    opened = open_hub(hub)
    path = register(opened, worker, force=force)
    show.say(f"registered {worker}'s public key on {opened.url or hub}; private key in {path}")


@app.command()
def declare(
    hub: HubOption,
    file: Annotated[str, typer.Argument(help="The state file, e.g. stats.json.")],
    path: Annotated[str, typer.Argument(help="A JSON Pointer; '*' matches any one key.")],
    kind: Annotated[str, typer.Argument(help="counter, append or set.")],
) -> None:
    """Declare a merge type, so that `gnp run` turns edits there into incr/append/union."""
    from gnp.git.connect import open_hub
    from gnp.git.registry import declare as declare_type

    declare_type(open_hub(hub), file, path, kind)
    show.say(f"{file}:{path} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind}")


@app.command()
def grant(
    hub: HubOption,
    worker: Annotated[str, typer.Argument(help="The worker to grant (it needs a key).")],
    authority: Annotated[
        int, typer.Option(help="The highest authority WORKER's deltas may claim.")
    ] = 0,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--files",
            help="A glob of state files WORKER may write; repeat for more. '*' stays "
            "within a folder, '**' crosses folders. Default: every file.",
        ),
    ] = None,
) -> None:
    """The owner's grant: the highest authority WORKER may claim, and the state files it
    may write. A new grant replaces WORKER's last one."""
    from gnp.git.connect import open_hub
    from gnp.git.registry import grant as grant_worker

    given = grant_worker(open_hub(hub), worker, authority=authority, files=files or ())
    show.say(f"granted {worker} {given.describe()}")


@app.command()
def submit(
    hub: HubOption,
    worker: WorkerOption,
    source: Annotated[str, typer.Argument(help="A JSON file of ops, or - for stdin.")] = "-",
) -> None:
    """Submit one delta: a JSON list of ops, or {"ops": [...], "authority": N, "author": "..."}."""
    from gnp.core.errors import UsageError
    from gnp.git.connect import open_hub
    from gnp.git.submit import submit_json
    from gnp_cli.relay import Unreadable, read_source

    try:
        data = read_source(source)
    except Unreadable as exc:
        raise UsageError(str(exc)) from None
    print(submit_json(open_hub(hub), worker, data))


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    hub: HubOption,
    worker: WorkerOption,
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    timeout: Annotated[float | None, typer.Option(help="Kill the command after SECONDS.")] = None,
    authority: Annotated[int, typer.Option(help="Authority of the delta.")] = 0,
) -> None:
    """Run CMD in an isolated worktree; its edits to state files become one delta."""
    from gnp.core.verdict import WorkerStatus
    from gnp.git.connect import open_hub
    from gnp.process.run import run as run_worker

    result = run_worker(open_hub(hub), worker, command, timeout=timeout, authority=authority)
    if result.ignored:
        shown = ", ".join(result.ignored[:5]) + (" ..." if len(result.ignored) > 5 else "")
        tell(f"warning: not state files (state files end in .json), not merged: {shown}")
    if result.note:
        tell(f"warning: {result.note}")
    if result.status is WorkerStatus.UNCHANGED:
        tell("the command changed no state file; nothing submitted")
        return
    if result.status is WorkerStatus.FALLBACK:
        tell(f"{result.error}; submitted a fallback delta")
        print(result.delta_id)
        raise typer.Exit(1)
    print(result.delta_id)


@app.command()
def relay() -> None:
    """Keep a resident submitter, so that this user's later submits take milliseconds.

    Each later 'gnp submit' of the same user and GNP_HOME hands its delta to it, instead
    of paying the command's start-up. Ctrl-C or SIGTERM stops it."""
    from gnp_cli.relay_server import serve

    serve(log=tell)


@app.command()
def janitor(hub: HubOption) -> None:
    """Clean up after dead workers and crashed engines; print what was done.

    Removes what they left behind, and submits a fallback for each worker that died
    before it reported."""
    from gnp.git.connect import open_hub
    from gnp.process.janitor import sweep

    show.sweep(sweep(open_hub(hub)))


@app.command()
def verify(hub: HubOption, as_json: JsonOption = False) -> None:
    """Check a hub end to end; exit 0 only when every check holds.

    Every frame replays, the ledger and the archive agree, the keyring (and grants) are
    well formed, no inbox ref is orphaned, git fsck is clean, and main holds only
    commits of the engine and of the owner's commands. One line per check."""
    from gnp.core.errors import GnpError
    from gnp.git.connect import open_hub
    from gnp.git.verify import verify as verify_hub

    result = verify_hub(open_hub(hub))
    if as_json:
        show.json(result.to_json())
    else:
        show.verification(result)
    if not result.ok:
        raise GnpError(f"{hub} fails {len(result.failed)} check(s): {', '.join(result.failed)}")


@app.command()
def inbox(hub: HubOption, as_json: JsonOption = False) -> None:
    """Show the deltas waiting for the next frame, in the order it will take them.

    For each: its id, worker, utc, the frame it was made on, how many operations, the
    files it names, and why the next frame will refuse it, if it will."""
    from gnp.git.connect import open_hub
    from gnp.git.look import waiting

    items = waiting(open_hub(hub))
    if as_json:
        show.json([w.to_json() for w in items])
    else:
        show.inbox(items)


@app.command("show")
def show_delta(
    hub: HubOption,
    delta: Annotated[str, typer.Argument(help="A delta id, or its first 4 or more hex digits.")],
    as_json: JsonOption = False,
) -> None:
    """Show one delta: its operations, its signature, and every verdict it got.

    The delta is found in the inbox (still waiting) or in any frame's archive."""
    from gnp.git.connect import open_hub
    from gnp.git.look import story

    found = story(open_hub(hub), delta)
    if as_json:
        show.json(found.to_json())
    else:
        show.story(found)


@app.command()
def status(hub: HubOption, as_json: JsonOption = False) -> None:
    """Show the hub at a glance: its frame, main's commit, what waits, the last frame's
    verdicts, and the registered workers with their grants."""
    from gnp.git.connect import open_hub
    from gnp.git.look import status as hub_status

    found = hub_status(open_hub(hub), hub)
    if as_json:
        show.json(found.to_json())
    else:
        show.status(found)


@app.command()
def lineage(
    hub: HubOption,
    frame: Annotated[int | None, typer.Option("--frame", help="Only this frame.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array, for machines.")] = False,
    per_frame: Annotated[
        bool, typer.Option("--summary", help="One row per frame instead of per delta.")
    ] = False,
    where: LineageReadOption = None,
    worker: Annotated[str | None, typer.Option("--worker", help="Only this worker's rows.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only rows with this verdict: applied, rejected, conflict, duplicate or fallback.",
        ),
    ] = None,
    since: Annotated[
        int | None, typer.Option("--since", help="Only frames from this one on.", min=1)
    ] = None,
) -> None:
    """Show lineage rows: what became of every delta, frame by frame."""
    from gnp.git.connect import open_hub
    from gnp.git.replay import check_frame
    from gnp.lineage import read
    from gnp.lineage.frames import lineage_root

    opened = open_hub(hub)
    latest = opened.state().frame
    if frame is not None:  # else "no lineage yet" would mislead
        check_frame(latest, frame)
    root = lineage_root(opened, where)
    table = read.read(root, frame=frame, worker=worker, status=status, since=since)
    if per_frame:
        table = read.summary(table)
    if as_json:
        print(show.json_text(read.to_json(table)))
    elif table.empty:
        # Where a frame wrote lineage depends on how it named the hub (a path: inside
        # the hub; a URL: under $GNP_HOME) or on --lineage: say where this looked.
        asked = [
            f"frame {frame}" if frame is not None else "",
            f"frames from {since}" if since is not None else "",
            f"worker {worker}" if worker is not None else "",
            f"status {status}" if status is not None else "",
        ]
        which = f" for {', '.join(a for a in asked if a)}" if any(asked) else ""
        why = (
            " (frames run with --lineage, or with the hub named another way, keep theirs"
            " there; the next frame here writes the rows missing here)"
            if latest
            else ""
        )
        show.say(f"no lineage yet{which} in {root}{why}")
    elif per_frame:
        show.lineage_frames(table)
    else:
        show.lineage_rows(table)


# Flows and deployments ------------------------------------------------------------------


@app.command()
def frame(
    hub: HubOption,
    roster: RosterOption = None,
    max_workers: MaxWorkersOption = 8,
    lineage: LineageOption = None,
    as_json: JsonOption = False,
    dask: DaskOption = None,
) -> None:
    """Run one frame now, as a Prefect flow run: the roster's workers, then the merge."""
    from gnp.core.errors import GnpError
    from gnp.frame.roster import check, load
    from gnp.frame.summary import FrameFailed
    from gnp.git.connect import open_hub
    from gnp.git.credentials import into_environment
    from gnp.lineage.frames import lineage_root
    from gnp.lineage.store import check_writable
    from gnp_cli.runs import flow_run, session

    hub = into_environment(hub)  # flow parameters are stored: never a URL's secret
    # A missing hub, a bad roster (or one whose workers cannot run) or an unwritable
    # lineage location is one line here, before Prefect starts. The roster's paths
    # resolve from its file's folder, and go to the flow absolute.
    opened = open_hub(hub)
    check_writable(lineage_root(opened, lineage))
    state = opened.state()
    members = load(roster) if roster else []
    check(members, state.keyring_text, hub)
    entries = [m.to_json() for m in members] if roster else None
    try:
        with session(show.progress), _progress(len(members)):
            from gnp_flows.frame import frame as frame_flow

            try:
                summary = flow_run(
                    lambda: frame_flow(hub, entries, max_workers, lineage, dask=dask)
                )
            except FrameFailed as failed:  # merged and recorded, but failed: shown, then why
                summary = failed.summary
            from gnp_cli.ui import flow_run_url

            link = flow_run_url(summary.flow_run_id)  # while the server is there
    except KeyboardInterrupt:
        _merged_before(hub, state.frame)
        raise
    if link is not None:
        show.progress(f"the frame's flow run in the Prefect UI: {link}")
    if as_json:
        show.json(summary.to_json())
    else:
        show.frame(summary)
    if summary.failure is not None:  # the flow run is Failed too: automation must notice
        raise GnpError(summary.failure)


@app.command()
def replay(
    hub: HubOption,
    frame: Annotated[int | None, typer.Option("--frame", help="The frame number.")] = None,
    first: Annotated[int | None, typer.Option("--first", help="Replay from this frame.")] = None,
    last: Annotated[int | None, typer.Option("--last", help="Replay up to this frame.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-derive frames from their parents and archives; exit 0 iff each one matches.

    One frame (--frame), a range (--first, --last) or, by default, every frame, as a
    Prefect flow run, each compared with what main recorded."""
    from gnp.core.errors import GnpError
    from gnp.git.credentials import into_environment
    from gnp.git.replay import frames_to_replay
    from gnp_cli.runs import flow_run, session

    hub = into_environment(hub)  # flow parameters are stored: never a URL's secret
    frames_to_replay(hub, frame, first, last)  # a bad range is one line, before Prefect
    with session(show.progress):
        from gnp_flows.replay import replay as replay_flow

        reports = flow_run(lambda: replay_flow(hub, frame, first, last, fail_on_mismatch=False))
    if as_json:
        show.json([r.to_json() for r in reports])
    else:
        for r in reports:
            show.say(show.replay_line(r))
        if not reports:
            show.say("no frames yet: nothing to replay")
    differing = [r.frame for r in reports if not r.identical]
    if differing:
        raise GnpError(f"{len(differing)} frame(s) do not replay: {differing}")


@app.command()
def demo() -> None:
    """The whole protocol on an embedded default, in a temporary folder.

    Three frames of simulated agents as Prefect flow runs, then every frame replayed."""
    import tempfile

    from rich.markup import escape

    from gnp.core.errors import GnpError
    from gnp_cli.runs import session, started_here

    folder = Path(tempfile.mkdtemp(prefix="gnp-demo-"))
    show.out.print(f"[bold]gnp demo[/] in {escape(str(folder))}")
    with session(show.progress):  # under the user's GNP_HOME: `gnp server start`'s record
        os.environ["GNP_HOME"] = str(folder / "home")  # the demo's keys stay in its folder
        from gnp_cli.demo import closing
        from gnp_cli.demo import run as run_demo

        with started_here():
            result = run_demo(folder, progress=lambda t: show.out.print(f"[dim]>[/] {escape(t)}"))
    for summary in result.summaries:
        show.out.print(f"\n[bold]{escape(summary.headline())}[/]")
        for v in summary.notable():
            show.say(show.verdict_line(v, delta=False))
    closing(result)
    if result.problems:
        raise GnpError("the demo's checks failed: " + "; ".join(result.problems))


@app.command()
def serve(
    hub: HubOption,
    roster: RosterOption = None,
    name: Annotated[
        str | None, typer.Option(help="The deployments' name (default: the hub's name).")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help="Frames, in UTC (default '*/5 * * * *').")
    ] = None,
    replay_cron: Annotated[
        str | None, typer.Option(help="Replay, in UTC (default '0 3 * * *').")
    ] = None,
    lineage: LineageOption = None,
    max_workers: MaxWorkersOption = 8,
    dask: DaskOption = None,
) -> None:
    """Serve one hub's scheduled frames and nightly replay from this process.

    The deployments `gnp-frame/NAME` and `gnp-replay/NAME`, with no work pool, against
    the Prefect server at PREFECT_API_URL, or `gnp server start`'s. Ctrl-C stops it."""
    from gnp.core.errors import UsageError
    from gnp.frame.roster import check, load
    from gnp.git.connect import open_hub
    from gnp.git.credentials import into_environment

    hub = into_environment(hub)  # deployment parameters are stored: never a URL's secret
    opened = open_hub(hub)  # a missing hub is one line here, before Prefect is asked
    check(load(roster) if roster else [], opened.state().keyring_text, hub)  # each frame, too
    if "PREFECT_API_URL" not in os.environ:  # before Prefect reads its settings
        from gnp_cli.resident import answering_url

        resident = answering_url()  # `gnp server start`'s, which schedules runs
        if resident is not None:
            os.environ["PREFECT_API_URL"] = resident  # for the runs' processes too
    from prefect.settings import get_current_settings

    from gnp_deployments.schedules import FRAME_CRON, REPLAY_CRON, build
    from gnp_deployments.serve import serve as serve_deployments

    if not get_current_settings().api.url:
        # Prefect would start its temporary server, whose scheduler does not run: the
        # schedules would never make a run, and nothing would say so.
        raise UsageError(
            "gnp serve needs a Prefect server that schedules runs: start one with "
            "'gnp server start', or set PREFECT_API_URL to the API of one of yours"
        )

    made = build(
        hub,
        roster,  # a file: its paths resolve from its folder, wherever a run starts
        name=name,
        cron=FRAME_CRON if cron is None else cron,  # '' is a mistake, not the default
        replay_cron=REPLAY_CRON if replay_cron is None else replay_cron,
        lineage=lineage,
        max_workers=max_workers,
        dask=dask,
    )
    serve_deployments(made)


server_app = typer.Typer(
    help="Keep one local Prefect server running, for every later gnp command to use.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[
        int, typer.Option(help="The port on 127.0.0.1; 0 for any free one.", min=0, max=65535)
    ] = 4200,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for it to answer.", min=1)] = 120,
) -> None:
    """Start a Prefect server in the background, unless one runs already.

    Prefect's own server (`prefect server start`, with Prefect's settings and database),
    on loopback. While it runs, and PREFECT_API_URL is unset, `gnp frame`, `gnp replay`
    and `gnp demo` run their flows on it, without starting a server of their own; its
    UI shows every run. `gnp server stop` stops it."""
    from gnp_cli import resident

    started = resident.start(port, timeout, show.progress)
    server = started.server
    if started.already:
        waiting = "" if started.answering else ", not answering yet"
        show.say(f"a Prefect server already runs: {server.url} (pid {server.pid}{waiting})")
    else:
        show.say(f"started a Prefect server: {server.url} (pid {server.pid})")
    _server_lines(server)
    if not started.already:
        show.say("gnp commands use it while PREFECT_API_URL is unset; 'gnp server stop' stops it")


@server_app.command("status")
def server_status() -> None:
    """Whether the Prefect server of `gnp server start` runs: its URL, pid, UI and log.

    Exit status 0 when it runs, 3 when it does not."""
    from gnp_cli import resident

    now = resident.status()
    if now.server is None:
        stale = f" (a stale record is left: {now.stale})" if now.stale else ""
        show.say(f"not running{stale}; start one with 'gnp server start'")
        raise typer.Exit(3)
    waiting = "" if now.answering else ", not answering yet: starting, or stuck (see its log)"
    show.say(f"running: {now.server.url} (pid {now.server.pid}{waiting})")
    _server_lines(now.server)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the Prefect server of `gnp server start`, and wait until it has ended."""
    from gnp_cli import resident

    stopped = resident.stop()
    if stopped.server is not None:
        show.say(f"stopped the Prefect server at {stopped.server.url} (pid {stopped.server.pid})")
    else:
        stale = f" (removed a stale record: {stopped.stale})" if stopped.stale else ""
        show.say(f"not running{stale}: nothing to stop")


def _server_lines(server: Resident) -> None:
    show.say(f"UI:  {server.ui}")
    show.say(f"log: {server.log}")
    url = os.environ.get("PREFECT_API_URL")
    if url and url.rstrip("/") != server.url:
        tell(f"PREFECT_API_URL is set ({url}): gnp commands use that server, not this one")


# Helpers of the commands above ----------------------------------------------------------


def _merged_before(hub: str, before: int) -> None:
    """A Ctrl-C can come after the merge, while lineage and the summary are written: say
    that the frame was merged, or "interrupted" alone would suggest that nothing was."""
    from gnp.git.connect import open_hub

    try:
        now = open_hub(hub).state().frame
    except Exception:  # the interrupt is what matters; this is a hint
        return
    if now > before:
        tell(
            f"frame {now} was merged before the interrupt "
            "(if its lineage is missing, the next frame that merges a delta writes it)"
        )


@contextlib.contextmanager
def _progress(total: int) -> Iterator[None]:
    """Each worker's outcome on stderr as it ends, ``[3/8] alice ok in 41.20 s``: a frame
    of agents can take minutes, and the summary comes only at its end."""
    import logging

    from gnp.frame.workers import PROGRESS

    class Shown(logging.Handler):
        done = 0

        def emit(self, record: logging.LogRecord) -> None:  # one at a time: handle() locks
            self.done += 1
            show.progress(f"[{self.done}/{total}] {record.getMessage()}")

    shown = Shown()
    PROGRESS.addHandler(shown)
    try:
        yield
    finally:
        PROGRESS.removeHandler(shown)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every error is one line on stderr and a non-zero exit."""
    try:
        code = app(args=argv, prog_name="gnp", standalone_mode=False)
    except Exception as exc:
        exit_code = getattr(exc, "exit_code", None)
        if hasattr(exc, "format_message") and isinstance(exit_code, int):
            # click's usage errors (typer vendors click, so matched by shape, not class)
            message = exc.format_message()
            if not message:  # no arguments: the help was shown
                sys.exit(exit_code)
            # The help of the command that was misused: 'gnp frame --help', not the list.
            ctx = getattr(exc, "ctx", None)
            where = getattr(ctx, "command_path", None) or "gnp"
            _fail(f"{message} (see '{where} --help')", exit_code)
        from gnp.core.errors import GnpError, explain  # here: `gnp --help` loads no gnp

        if not isinstance(exc, GnpError):
            raise
        _fail(explain(exc), 1)
    if code == INTERRUPTED:
        _fail("interrupted", code)
    sys.exit(code if isinstance(code, int) else 0)


INTERRUPTED = 130  # what typer returns for a Ctrl-C (KeyboardInterrupt); gnp never does


def _fail(message: str, code: int) -> None:
    tell(message)
    sys.exit(code)
