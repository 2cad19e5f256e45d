"""``python -m deployments.serve``: scheduled frames and nightly replay of one hub, served
by this process, with no work pool and no worker to run.

Every input is checked before anything reaches Prefect, so a missing hub or a bad roster
is one line on stderr and a non-zero exit, not a traceback or a half-registered pair of
deployments.

Stop it with Ctrl-C or SIGTERM, and it takes a few seconds: a frame still running is told
to stop (its workers stop their commands and leave fallback deltas), its flow run ends
(Cancelled, or Crashed if its process ends first), which frees the deployment's one-frame
slot, and the schedules are paused.
Prefect's runner does that on SIGTERM only. On SIGINT, asyncio cancels the runner, and
the runner's cancelled wait for a flow run's process kills it outright (SIGKILL): the run
stays Running, the slot stays taken until its lease runs out (up to 5 minutes), and the
workers leave no fallback while their commands run on. So here Ctrl-C does what SIGTERM
does; a second one stops at once, as a kill would, and ``gnp janitor`` cleans up after it.
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn

from prefect import serve

from deployments.schedules import FRAME_CRON, REPLAY_CRON, build
from gnp.errors import GnpError
from gnp.hub import Hub
from gnp.roster import load


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"gnp: {message} (see --help)\n")  # one line, as gnp's own commands


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m deployments.serve",
        description="Serve one hub's scheduled frames and nightly replay from this process.",
    )
    p.add_argument("--hub", required=True, help="The hub: a path to its bare repository or a URL.")
    p.add_argument(
        "--roster", metavar="FILE", help="A JSON file: the workers, [{id, call|command, ...}]."
    )
    p.add_argument("--name", help="The deployments' name (default: the hub's name).")
    p.add_argument("--cron", default=FRAME_CRON, help=f"Frames (UTC; default '{FRAME_CRON}').")
    p.add_argument(
        "--replay-cron", default=REPLAY_CRON, help=f"Replay (UTC; default '{REPLAY_CRON}')."
    )
    p.add_argument("--lineage", help="Where lineage goes: a folder or a pyarrow URI.")
    p.add_argument("--max-workers", type=int, default=8, help="Worker tasks at once.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        Hub.open(args.hub)  # a missing hub is one line here, before Prefect is asked
        roster = read_roster(args.roster) if args.roster else None
        deployments = build(
            args.hub,
            roster,
            name=args.name,
            cron=args.cron,
            replay_cron=args.replay_cron,
            lineage=args.lineage,
            max_workers=args.max_workers,
        )
    except GnpError as exc:
        print(f"gnp: {exc}", file=sys.stderr)
        return 1
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a service's log is read as it grows
    previous = signal.signal(signal.SIGINT, _as_sigterm)
    try:
        serve(*deployments)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


_told = False  # whether Ctrl-C was explained already


def _as_sigterm(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C: what SIGTERM does, once the runner has set its handler (until then no
    frame runs, and Ctrl-C is the usual KeyboardInterrupt)."""
    on_sigterm = signal.getsignal(signal.SIGTERM)
    if not callable(on_sigterm):
        raise KeyboardInterrupt
    global _told
    if not _told:  # the wait invites a second Ctrl-C: say what it costs
        _told = True
        print(
            "gnp: stopping; a running frame stops its workers, who leave fallbacks (a few "
            "seconds). Ctrl-C again stops at once, and leaves that frame's run Running",
            file=sys.stderr,
            flush=True,
        )
    on_sigterm(signal.SIGTERM, frame)


def read_roster(path: str) -> list[dict[str, Any]]:
    """The roster file, checked entry by entry (gnp.roster.load) and normalized."""
    return [m.to_json() for m in load(path)]


if __name__ == "__main__":
    sys.exit(main())
