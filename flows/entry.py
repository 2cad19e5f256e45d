"""The ``gnp`` command's front door.

A plain ``gnp submit`` is handed to a running relay (:mod:`gnp.relay`), loading nothing
but that module: a command's start-up costs far more than its submission. Everything
else, and a submit when no relay runs, goes to the full command line in flows.cli.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["submit"]:
        from gnp import relay

        status = relay.submit_command(args[1:])
        if status is not None:
            sys.exit(status)
    from flows.cli import main as command_line

    command_line()
