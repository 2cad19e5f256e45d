"""The ``gnp`` command: the commands that need only the protocol and git.

``flows/cli.py`` adds the commands that run Prefect flows (``frame``, ``replay``,
``demo``) and is the entry point, so that this package never imports Prefect. Errors
are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .errors import GnpError, explain

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    name="gnp",
    help="The Good Neighbor Protocol: many workers, one canonical JSON state in git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
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


@app.command()
def init(
    hub: Annotated[str, typer.Argument(help="Where to create the hub (a new folder).")],
) -> None:
    """Create a hub: a bare repository whose main holds empty state."""
    from .hub import Hub

    created = Hub.init(hub)
    out.print(f"created hub {created.path} (frame 0, no workers yet)", markup=False)
    out.print(f"next: gnp keygen WORKER --hub {hub}", markup=False)


@app.command()
def keygen(
    worker: Annotated[str, typer.Argument(help="The worker id to make a key pair for.")],
    hub: HubOption,
    force: Annotated[bool, typer.Option(help="Replace an existing key.")] = False,
) -> None:
    """Make WORKER's key pair and register its public key on the hub's keyring."""
    from .hub import Hub
    from .registry import register

    path = register(Hub.open(hub), worker, force=force)
    out.print(f"registered {worker}'s public key on {hub}; private key in {path}", markup=False)


@app.command()
def declare(
    hub: HubOption,
    file: Annotated[str, typer.Argument(help="The state file, e.g. stats.json.")],
    path: Annotated[str, typer.Argument(help="A JSON Pointer; '*' matches any one key.")],
    kind: Annotated[str, typer.Argument(help="counter, append or set.")],
) -> None:
    """Declare a merge type, so that `gnp run` turns edits there into incr/append/union."""
    from .hub import Hub
    from .registry import declare as declare_type

    declare_type(Hub.open(hub), file, path, kind)
    out.print(f"{file}:{path} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind}", markup=False)


@app.command()
def submit(
    hub: HubOption,
    worker: WorkerOption,
    source: Annotated[str, typer.Argument(help="A JSON file of ops, or - for stdin.")] = "-",
) -> None:
    """Submit one delta: a JSON list of ops, or {"ops": [...], "authority": N, "author": "..."}."""
    from .hub import Hub
    from .relay import read_source
    from .submit import submit_json

    print(submit_json(Hub.open(hub), worker, read_source(source)))


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


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    hub: HubOption,
    worker: WorkerOption,
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    timeout: Annotated[float | None, typer.Option(help="Kill the command after SECONDS.")] = None,
    authority: Annotated[int, typer.Option(help="Authority of the delta.")] = 0,
) -> None:
    """Run CMD in an isolated worktree; its edits to state files become one delta."""
    from .hub import Hub
    from .run import run as run_worker

    result = run_worker(Hub.open(hub), worker, command, timeout=timeout, authority=authority)
    if result.ignored:
        shown = ", ".join(result.ignored[:5]) + (" ..." if len(result.ignored) > 5 else "")
        tell(f"warning: not state files (state files end in .json), not merged: {shown}")
    if result.note:
        tell(f"warning: {result.note}")
    if result.status == "unchanged":
        tell("the command changed no state file; nothing submitted")
        return
    if result.status == "fallback":
        tell(f"{result.error}; submitted a fallback delta")
        print(result.delta_id)
        raise typer.Exit(1)
    print(result.delta_id)


@app.command()
def relay() -> None:
    """Keep a resident submitter: this user's later 'gnp submit' calls hand it their
    delta and take milliseconds, not the command's start-up. Ctrl-C stops it."""
    from .relay_server import serve

    serve(log=tell)


@app.command()
def janitor(hub: HubOption) -> None:
    """Remove what dead workers and crashed engines left behind, submit a fallback for
    each worker that died before it reported; print what was done."""
    from .hub import Hub
    from .janitor import sweep

    report = sweep(Hub.open(hub))
    said = [
        *(f"rescued {line}" for line in report.rescued),
        *(f"submitted {line}" for line in report.fallbacks),
        *(f"no fallback for {line}" for line in report.unreported),
        *(f"removed {line}" for line in report.removed),
        *(f"kept {line}" for line in report.kept),
    ]
    for line in said:
        out.print(line, markup=False, highlight=False)
    if not said:
        out.print("nothing to clean")


@app.command()
def lineage(
    hub: HubOption,
    frame: Annotated[int | None, typer.Option("--frame", help="Only this frame.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array, for machines.")] = False,
    per_frame: Annotated[
        bool, typer.Option("--summary", help="One row per frame instead of per delta.")
    ] = False,
    where: LineageReadOption = None,
) -> None:
    """Show lineage rows: what became of every delta, frame by frame."""
    from . import lineage as lineage_store
    from .frames import lineage_root
    from .hub import Hub
    from .replay import check_frame

    opened = Hub.open(hub)
    latest = opened.state().frame
    if frame is not None:  # else "no lineage yet" would mislead
        check_frame(latest, frame)
    root = lineage_root(opened, where)
    table = lineage_store.read(root, frame=frame)
    if per_frame:
        table = lineage_store.summary(table)
    if as_json:
        print(lineage_store.to_json(table))
        return
    if table.empty:
        # Where a frame wrote lineage depends on how it named the hub (a path: inside
        # the hub; a URL: under $GNP_HOME) or on --lineage: say where this looked.
        which = f" for frame {frame}" if frame is not None else ""
        why = (
            " (frames run with --lineage, or with the hub named another way, keep theirs"
            " there; the next frame here writes the rows missing here)"
            if latest
            else ""
        )
        out.print(f"no lineage yet{which} in {root}{why}", markup=False, highlight=False)
        return
    if per_frame:
        out.print(_summary_table(table), markup=False, highlight=False)
        return
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


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""  # pandas gives NaN for a missing string


def _summary_table(table: pd.DataFrame) -> str:
    from .verdict import REPORTED

    view = table[["frame", "deltas", *REPORTED, "result_commit", "frame_seconds"]].rename(
        columns={"result_commit": "main after", "frame_seconds": "seconds"}
    )
    view["main after"] = view["main after"].str[:10]
    return str(view.to_string(index=False, float_format=lambda x: f"{x:.2f}"))


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except GnpError as exc:
        _fail(explain(exc), 1)
    except Exception as exc:
        # click's usage errors (typer vendors click, so match by shape, not by class)
        exit_code = getattr(exc, "exit_code", None)
        if not hasattr(exc, "format_message") or not isinstance(exit_code, int):
            raise
        message = exc.format_message()
        if not message:  # no arguments: the help was shown
            sys.exit(exit_code)
        _fail(f"{message} (see 'gnp --help')", exit_code)
    if code == INTERRUPTED:
        _fail("interrupted", code)
    sys.exit(code if isinstance(code, int) else 0)


INTERRUPTED = 130  # what typer returns for a Ctrl-C (KeyboardInterrupt); gnp never does


def _fail(message: str, code: int) -> None:
    tell(message)
    sys.exit(code)


def tell(message: str) -> None:
    """One line on stderr however long: the README promises one-line messages, and rich
    would wrap them at 80 columns when stderr is not a terminal."""
    err.print(f"gnp: {message}", markup=False, highlight=False, emoji=False, soft_wrap=True)
