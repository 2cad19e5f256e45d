"""The ``gnp`` command. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import canonical
from .errors import GnpError, Refused, UsageError

if TYPE_CHECKING:
    from .hub import Hub as HubType

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


HubOption = Annotated[str, typer.Option("--hub", help="The hub: a path to its bare repository.")]
WorkerOption = Annotated[str, typer.Option("--worker", help="Your worker id.")]


@app.command()
def init(
    hub: Annotated[str, typer.Argument(help="Where to create the hub (a new folder).")],
) -> None:
    """Create a hub: a bare repository whose main holds empty state."""
    from .hub import Hub

    created = Hub.init(hub)
    out.print(f"created hub {created.path} (frame 0, no workers yet)")
    out.print(f"next: gnp keygen WORKER --hub {hub}")


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
    out.print(f"registered {worker}'s public key on {hub}; private key in {path}")


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
    out.print(f"{file}:{path} is a {kind}")


@app.command()
def submit(
    hub: HubOption,
    worker: WorkerOption,
    source: Annotated[str, typer.Argument(help="A JSON file of ops, or - for stdin.")] = "-",
) -> None:
    """Submit one delta: a JSON list of ops, or {"ops": [...], "authority": N, "author": "..."}."""
    from .hub import Hub
    from .submit import submit_json

    data = sys.stdin.buffer.read() if source == "-" else _read(source)
    delta_id = submit_json(Hub.open(hub), worker, data)
    print(delta_id)


LineageOption = Annotated[
    str | None,
    typer.Option("--lineage", help="Where lineage goes: a folder or a pyarrow URI (s3://...)."),
]


@app.command()
def frame(hub: HubOption, lineage: LineageOption = None) -> None:
    """Run one frame now: merge the inbox into one new commit on main."""
    import time

    from .engine import run_frame
    from .hub import Hub

    opened = Hub.open(hub)
    started = time.perf_counter()
    report = run_frame(opened)
    if report.frame is not None:
        from . import lineage as lineage_store
        from .replay import frame_record

        rows = lineage_store.rows(
            frame_record(opened, report.frame), frame_seconds=time.perf_counter() - started
        )
        lineage_store.write(lineage or _default_lineage(opened), rows, report.frame)
    for ref in report.swept:
        out.print(f"removed {ref}: already merged")
    if report.frame is None:
        out.print("nothing to merge: the inbox holds no new deltas")
        return
    counts = ", ".join(
        f"{report.count(o)} {o}"
        for o in ("applied", "rejected", "conflict", "fallback", "duplicate")
    )
    out.print(
        f"frame {report.frame}: {counts}; main is now {report.commit[:12] if report.commit else ''}"
    )
    for v in report.verdicts:
        if v["outcome"] not in ("applied",):
            out.print(
                f"  {v['outcome']:9} {v['worker'] or '?'} {(v['delta'] or '')[:12]}: {v['reason']}",
                markup=False,
                highlight=False,
            )


@app.command()
def replay(
    hub: HubOption, frame: Annotated[int, typer.Option("--frame", help="The frame number.")]
) -> None:
    """Re-derive frame N from its parent and its archive; exit 0 iff it matches main."""
    from .hub import Hub
    from .replay import replay as run_replay

    report = run_replay(Hub.open(hub), frame)
    if report.identical:
        out.print(f"frame {frame}: identical (tree {report.recorded_tree[:12]})")
        return
    raise GnpError(
        f"frame {frame} does not replay: recorded tree {report.recorded_tree[:12]}, "
        f"replayed {report.replayed_tree[:12]}; differs in " + ", ".join(report.differences[:10])
    )


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
    if result.status == "unchanged":
        err.print("gnp: the command changed no state file; nothing submitted", markup=False)
        return
    if result.status == "fallback":
        err.print(f"gnp: {result.error}; submitted a fallback delta", markup=False)
        print(result.delta_id)
        raise typer.Exit(1)
    print(result.delta_id)


@app.command()
def janitor(hub: HubOption) -> None:
    """Remove what dead workers and crashed engines left behind; print what was removed."""
    from .hub import Hub
    from .janitor import sweep

    report = sweep(Hub.open(hub))
    for line in report.rescued:
        out.print(f"rescued {line}", markup=False, highlight=False)
    for line in report.removed:
        out.print(f"removed {line}", markup=False, highlight=False)
    for line in report.kept:
        out.print(f"kept {line}", markup=False, highlight=False)
    if not (report.removed or report.rescued or report.kept):
        out.print("nothing to clean")


@app.command()
def lineage(
    hub: HubOption,
    frame: Annotated[int | None, typer.Option("--frame", help="Only this frame.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array, for machines.")] = False,
    where: LineageOption = None,
) -> None:
    """Show lineage rows: what became of every delta, frame by frame."""
    from . import lineage as lineage_store
    from .hub import Hub

    table = lineage_store.read(where or _default_lineage(Hub.open(hub)), frame=frame)
    if as_json:
        print(lineage_store.to_json(table))
        return
    if table.empty:
        out.print("no lineage yet" + (f" for frame {frame}" if frame is not None else ""))
        return
    view = Table(title="Lineage")
    for column in ("frame", "worker", "delta", "status", "why"):
        view.add_column(column)
    for row in table.itertuples():
        view.add_row(
            str(row.frame),
            _text(row.worker) or "?",
            _text(row.delta_id)[:12],
            _text(row.status),
            _text(row.reason),
        )
    out.print(view)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""  # pandas gives NaN for a missing string


def _default_lineage(hub: HubType) -> str:
    from .lineage import default_root

    return default_root(hub.path, hub.state().hub_id, remote=hub.url is not None)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


@app.command()
def demo() -> None:
    """Show the protocol's core deciding one frame, in memory."""
    from .demo import check, run_demo

    run = run_demo()
    out.print("[bold]gnp demo[/]: five workers, one frame, nothing shared but the protocol\n")
    out.print("[bold]Base state[/]")
    for file, doc in run.base.items():
        out.print(f"  {file}: {canonical.encode(doc).decode()}")
    out.print(f"\n[bold]Pushed[/]: {len(run.pushed)} delta files")
    for what, reason in run.refused:
        out.print(f"  [red]refused[/] {what}\n    {reason}")

    table = Table(title="Frame 1 verdicts, in composite-key order")
    for column in ("worker", "delta", "outcome", "why"):
        table.add_column(column)
    for v in run.result.verdicts:
        why = v.reason or ""
        table.add_row(v.worker, v.delta[:12], v.outcome.value, why)
    out.print(table)
    out.print("[bold]New state[/] (only the files that changed)")
    for file, doc in run.result.documents.items():
        out.print(f"  {file}: {canonical.encode(doc).decode()}")
    broken = check(run)
    if broken:
        raise GnpError("demo check failed: " + "; ".join(broken))
    out.print(
        "\n[green]Every promise held[/]: counters exact (42 posts, 10 comments), "
        "the conflict decided by authority and recorded, the crash a fallback, "
        "the re-push applied once, the forgery refused."
    )


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except Refused as exc:
        _fail(f"refused ({exc.code}): {exc}", 1)
    except GnpError as exc:
        _fail(str(exc), 1)
    except Exception as exc:
        # click's usage errors (typer vendors click, so match by shape, not by class)
        exit_code = getattr(exc, "exit_code", None)
        if not hasattr(exc, "format_message") or not isinstance(exit_code, int):
            raise
        message = exc.format_message()
        if not message:  # no arguments: the help was shown
            sys.exit(exit_code)
        _fail(f"{message} (see 'gnp --help')", exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    err.print(f"gnp: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)
