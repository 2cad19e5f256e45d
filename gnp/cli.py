"""The ``gnp`` command. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from . import canonical
from .errors import GnpError

app = typer.Typer(
    name="gnp",
    help="The Good Neighbor Protocol: many workers, one canonical JSON state in git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """The Good Neighbor Protocol: many workers, one canonical JSON state in git."""


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
