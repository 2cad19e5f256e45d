"""The ``gnp`` command's front door.

A plain ``gnp submit`` is handed to a running relay (:mod:`gnp.relay`), loading nothing
but that module: a command's start-up costs far more than its submission. Without a
relay it submits in-process, still without the command-line libraries. Everything else
goes to the full command line in flows.cli.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["submit"]:
        from gnp import relay

        status = relay.submit_command(args[1:])
        if status is None:
            status = _submit_here(args[1:])
        if status is not None:
            sys.exit(status)
    from flows.cli import main as command_line

    command_line()


def _submit_here(args: list[str]) -> int | None:
    """A plain ``gnp submit`` in this process, as flows.cli would run it."""
    from gnp.relay import parse_submit

    parsed = parse_submit(args)
    if parsed is None:
        return None
    from gnp.errors import GnpError, explain
    from gnp.hub import Hub
    from gnp.submit import read_request, submit_json

    hub, worker, source = parsed
    try:
        print(submit_json(Hub.open(hub), worker, read_request(source)))
    except GnpError as exc:
        print(f"gnp: {explain(exc)}", file=sys.stderr)
        return 1
    return 0
