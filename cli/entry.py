"""The ``gnp`` command's front door.

A plain ``gnp submit`` is handed to a running relay (:mod:`gnp_cli.relay`), loading
nothing but that module and the standard library: a command's start-up costs far more
than its submission. Without a relay it submits in-process, still without the
command-line libraries. Everything else goes to the command line, :mod:`gnp_cli.app`.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["submit"]:
        status = _submit(args[1:])
        if status is not None:
            sys.exit(status)
    from gnp_cli.app import main as command_line

    command_line()


def _submit(args: list[str]) -> int | None:
    """A plain ``gnp submit``: through this user's relay if one runs, else in this
    process; None for any other form, which the full command line handles."""
    from gnp_cli import relay

    parsed = relay.parse_submit(args)
    if parsed is None:
        return None
    hub, worker, source = parsed
    try:
        data = relay.read_source(source)
    except relay.Unreadable as exc:
        print(f"gnp: {exc}", file=sys.stderr)
        return 1
    status = relay.hand_over(hub, worker, data)
    if status is not None:
        return status
    from gnp.core.errors import GnpError, explain  # no relay: the whole of gnp, here
    from gnp.core.inert import inert
    from gnp.git.address import redact
    from gnp.git.connect import open_hub
    from gnp.git.submit import submit_json

    try:
        print(submit_json(open_hub(hub), worker, data))
    except GnpError as exc:
        print(f"gnp: {inert(redact(explain(exc)))}", file=sys.stderr)
        return 1
    return 0
